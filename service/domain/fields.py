"""Request fields, declared once: name, type, bounds, default and help in one `Field`.

Everything that checks or describes a request field derives from its declaration: validation (`read`),
the OpenAPI document (`json_schema`), `snapshotd run`'s options and the README's tables (`summary`).
Changing a bound is one edit here, and every one of those follows.

Values arrive as JSON values or as strings (the query string; the legacy SDK's dotted keys, where
unset fields come as 0 or ""), and both are read. Errors are 400 `InvalidParameter` naming the field as
the caller spelt it (`TemplateConfig.OverwriteParams.Count`). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PIL import ImageColor

from service.errors import InvalidParameter, MissingParameter


class Kind(StrEnum):
    INTEGER = "integer"
    STRING = "string"
    BOOLEAN = "boolean"
    #: one of `choices`, matched case-insensitively, returned as declared
    CHOICE = "choice"
    #: `#RRGGBB` or a CSS colour name, returned as (r, g, b)
    COLOR = "color"
    #: a list of `choices` (a JSON array, or comma-separated text)
    CHOICES = "choices"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    help: str
    #: what an absent value means (None: absent stays None)
    default: Any = None
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    #: strings: the longest value, in characters
    max_length: int | None = None
    #: a unit shown in documentation ("ms", "s", "px")
    unit: str = ""
    #: strings: a JSON Schema format shown in documentation ("date-time")
    format: str = ""

    # --- validation --------------------------------------------------------------------------------

    def read(
        self,
        raw: Mapping[str, Any],
        where: str = "",
        *,
        high: int | None = None,
        required: bool = False,
        declared_default: bool = True,
    ) -> Any:
        """This field's value in `raw`, checked; `where` prefixes the name in errors; `high` overrides
        the declared maximum when a setting lowers it (e.g. SNAPSHOTD_MAX_COUNT); without
        `declared_default` an absent value is None (an update that leaves the field as it is)."""
        label = f"{where}.{self.name}" if where else self.name
        value = raw.get(self.name)
        if value is None or value == "":
            if required:
                raise MissingParameter.named(label)
            if not declared_default or self.default is None:
                return None
            # a colour is documented as text and used as (r, g, b): the default goes the same way
            return _color(self.default, label) if self.kind is Kind.COLOR else self.default
        return self.check(value, label, high=high)

    def check(self, value: Any, label: str, *, high: int | None = None) -> Any:
        match self.kind:
            case Kind.INTEGER:
                return self._integer(value, label, self.high if high is None else high)
            case Kind.BOOLEAN:
                return _boolean(value, label)
            case Kind.CHOICE:
                return self._choice(value, label)
            case Kind.CHOICES:
                items = value.split(",") if isinstance(value, str) else value
                if not isinstance(items, list):
                    raise InvalidParameter.named(label, f"It must be a list of {', '.join(self.choices)}.")
                return tuple(
                    dict.fromkeys(
                        self._choice(item.strip() if isinstance(item, str) else item, label)
                        for item in items
                        if item != ""
                    )
                )
            case Kind.COLOR:
                return _color(value, label)
            case Kind.STRING:
                text = value if isinstance(value, str) else str(value)
                if self.max_length is not None and len(text) > self.max_length:
                    raise InvalidParameter.named(label, f"It must be at most {self.max_length} characters.")
                return text

    def _integer(self, value: Any, label: str, high: int | None) -> int:
        number: int | None = None
        if not isinstance(value, bool):
            try:
                number = int(value) if not isinstance(value, float) or value.is_integer() else None
            except (TypeError, ValueError):
                number = None
        if number is None:
            raise InvalidParameter.named(label, "It must be an integer.")
        if (self.low is not None and number < self.low) or (high is not None and number > high):
            bounds = f"between {self.low} and {high}" if high is not None else f"at least {self.low}"
            raise InvalidParameter.named(label, f"It must be {bounds}; got {number}.")
        return number

    def _choice(self, value: Any, label: str) -> str:
        if isinstance(value, str):
            for choice in self.choices:
                if choice.lower() == value.lower():
                    return choice
        raise InvalidParameter.named(label, f"It must be one of {', '.join(self.choices)}; got {value!r}.")

    # --- description -------------------------------------------------------------------------------

    def json_schema(self, *, high: int | None = None) -> dict[str, Any]:
        """The JSON Schema of the accepted values, with the same bounds `read` enforces."""
        schema: dict[str, Any]
        match self.kind:
            case Kind.INTEGER:
                schema = {"type": "integer"}
                if self.low is not None:
                    schema["minimum"] = self.low
                if (high if high is not None else self.high) is not None:
                    schema["maximum"] = high if high is not None else self.high
            case Kind.BOOLEAN:
                schema = {"type": "boolean"}
            case Kind.CHOICE:
                schema = {"enum": list(self.choices)}
            case Kind.CHOICES:
                schema = {"type": "array", "items": {"enum": list(self.choices)}, "uniqueItems": True}
            case Kind.COLOR:
                schema = {"type": "string", "description": "#RRGGBB or a colour name"}
            case Kind.STRING:
                schema = {"type": "string"}
                if self.max_length is not None:
                    schema["maxLength"] = self.max_length
                if self.format:
                    schema["format"] = self.format
        description = self.help + (f" ({self.unit})" if self.unit else "")
        schema["description"] = f"{schema['description']}. {description}" if "description" in schema else description
        if self.default is not None:
            schema["default"] = (
                list(self.default) if isinstance(self.default, tuple) and self.kind is Kind.CHOICES else self.default
            )
        return schema

    def summary(self, *, high: int | None = None) -> str:
        """One line for the README and `--help`: the values accepted and the default."""
        top = self.high if high is None else high
        parts = []
        if self.kind is Kind.INTEGER:
            parts.append(f"{self.low}–{top}" if top is not None else f"≥ {self.low}")
        elif self.kind in (Kind.CHOICE, Kind.CHOICES):
            parts.append(" | ".join(self.choices))
        elif self.kind is Kind.BOOLEAN:
            parts.append("true | false")
        elif self.kind is Kind.COLOR:
            parts.append("#RRGGBB or a colour name")
        if self.unit:
            parts[-1:] = [f"{parts[-1]} {self.unit}" if parts else self.unit]
        if self.default is not None:
            default = ",".join(self.default) if isinstance(self.default, tuple) else self.default
            parts.append(f"default {str(default).lower() if isinstance(default, bool) else default}")
        return "; ".join(parts)


def pascal_case(name: str) -> str:
    """`requested_ms` → `RequestedMs`: a Python name in the API's spelling."""
    return "".join(part.capitalize() for part in name.split("_"))


def snake_case(name: str) -> str:
    """`PixelBlackThreshold` → `pixel_black_threshold`: an ICE name in Python's (and the CLI's) spelling."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _boolean(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidParameter.named(label, "It must be true or false.")


def _color(value: Any, label: str) -> tuple[int, int, int]:
    try:
        rgb = ImageColor.getrgb(str(value))
    except ValueError:
        raise InvalidParameter.named(label, f"It must be #RRGGBB or a colour name; got {value!r}.") from None
    return rgb[0], rgb[1], rgb[2]
