"""JSON Schema from the event TypedDicts, so the payload code and the AsyncAPI document share one declaration.

A field's Python type gives its JSON type (`str`, `int`, `bool`, `float`, `Literal[...]`, `list[...]`,
`dict[str, ...]`, a nested TypedDict); `Annotated[..., Doc("…", keyword=value)]` adds its description and
the JSON Schema keywords the type cannot say (a pattern, a minimum). A TypedDict's required keys are
`required`; its docstring is the object's description. Objects stay open, as in the OpenAPI document:
a consumer must not break when a field is added. Anything else raises TypeError, so an unsupported
annotation fails the tests instead of documenting a wrong type. (A library that does this, pydantic or
msgspec, would enter the runtime dependencies for one document: these few types do not need it.)
"""

from __future__ import annotations

import inspect
import types
import typing
from enum import Enum
from typing import Annotated, Any, Literal, NotRequired, Required, TypeVar, get_args, get_origin, get_type_hints

JsonSchema = dict[str, Any]

_SCALARS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


class Doc:
    """What a field's type does not say: its meaning, and JSON Schema keywords such as `pattern`."""

    __slots__ = ("description", "keywords")

    def __init__(self, description: str, **keywords: Any) -> None:
        self.description = description
        self.keywords = keywords


def json_schema(annotation: Any, bound: dict[Any, Any] | None = None) -> JsonSchema:
    """The JSON Schema of a type annotation; `bound` maps a generic TypedDict's type variables to types."""
    bound = bound or {}
    if isinstance(annotation, TypeVar):
        return json_schema(bound[annotation], bound)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        schema = json_schema(args[0], bound)
        for meta in args[1:]:
            if isinstance(meta, Doc):
                schema = {**schema, "description": meta.description, **meta.keywords}
        return schema
    if origin in (Required, NotRequired):
        return json_schema(args[0], bound)
    if origin is Literal:
        values = [arg.value if isinstance(arg, Enum) else arg for arg in args]
        kinds = {_SCALARS[type(value)] for value in values}
        return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}
    if annotation is Any:
        return {}
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0], bound)}
    if origin is dict and args[0] is str:
        value = json_schema(args[1], bound)
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [json_schema(arg, bound) for arg in args]}
    if typing.is_typeddict(origin or annotation):
        parameters = getattr(origin, "__parameters__", ())
        return _typed_dict(origin or annotation, {**bound, **dict(zip(parameters, args, strict=True))})
    raise TypeError(f"no JSON Schema for the annotation {annotation!r}")


def _typed_dict(cls: Any, bound: dict[Any, Any]) -> JsonSchema:
    hints = get_type_hints(cls, include_extras=True)
    schema: JsonSchema = {
        "type": "object",
        "title": cls.__name__,
        "properties": {name: json_schema(hint, bound) for name, hint in hints.items()},
        "required": [name for name in hints if name in cls.__required_keys__],
    }
    if cls.__doc__:
        schema["description"] = inspect.cleandoc(cls.__doc__)
    return schema
