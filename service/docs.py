"""The README's reference tables, rendered from the declarations they describe.

Each table sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->` in README.md; `python -m
service.docs [README.md]` rewrites them in place, and a test fails when the README and the code disagree.
Tables: `settings` (every `SNAPSHOTD_*` variable, `config.py`), `snapshot-fields` (the TemplateConfig
fields, `domain/snapshot_fields.py`), `errors` (every Code, `errors.py`; the API serves the same list at
`/docs/errors`, where each error's `Recommend` points).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from service.config import describe
from service.domain.fields import Field
from service.domain.snapshot_fields import SNAPSHOT_FIELDS, SPRITE_FIELDS, SPRITE_OBJECT
from service.errors import error_codes

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, default, help_ in describe():
        rows.append(f"| `{variable}` | `{default or 'empty'}` | {_cell(help_)} |")
    rows.append(
        "| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | | S3 credentials, through botocore's standard chain |"
    )
    return "\n".join(rows) + "\n"


def _field_rows(fields: Iterable[Field], prefix: str = "") -> list[str]:
    return [f"| `{prefix}{field.name}` | {_cell(field.summary())} | {_cell(field.help)} |" for field in fields]


def snapshot_fields_table() -> str:
    rows = ["| field | values | meaning |", "|---|---|---|"]
    rows += _field_rows(SNAPSHOT_FIELDS)
    rows += _field_rows(SPRITE_FIELDS, f"{SPRITE_OBJECT}.")
    return "\n".join(rows) + "\n"


def errors_table() -> str:
    rows = ["| Code | HTTP | retry | meaning |", "|---|---|---|---|"]
    for code, (status, retryable, meanings) in error_codes().items():
        rows.append(f"| `{code}` | {status} | {'yes' if retryable else 'no'} | {_cell(' '.join(meanings))} |")
    return "\n".join(rows) + "\n"


TABLES: dict[str, Callable[[], str]] = {
    "settings": settings_table,
    "snapshot-fields": snapshot_fields_table,
    "errors": errors_table,
}


def render(text: str) -> str:
    """`text` with every generated block rewritten from the declarations."""

    def fill(match: re.Match[str]) -> str:
        table = TABLES[match["name"]]
        return f"{match.group(1)}{table()}{match.group(4)}"

    return _BLOCK.sub(fill, text)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
