"""Snapshot templates in PostgreSQL: custom templates (create, read, page, update, delete, default)
and the read-only system presets seeded by migration 0003.

Invariants:
- System templates (`is_system`) never change: every write is guarded by `NOT is_system`.
- At most one default custom template per (type, subtype). Switching the default takes a
  transaction-scoped advisory lock on that pair *before* touching any row, so two concurrent switches
  queue up instead of deadlocking on each other's rows; the unique index of migration 0004 is the
  backstop.
- A template's type and subtype are fixed at creation, which is what makes reading them outside the
  lock safe.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from service.errors import SystemTemplateReadOnly
from service.store.pool import store_methods
from service.store.sql import returned

INSERT_TEMPLATE = """
INSERT INTO templates (template_id, name, type, subtype, is_system, is_default, status, config)
VALUES ($1, $2, $3, $4, false, false, 'Normal', $5)
RETURNING *
"""

SELECT_TEMPLATE = "SELECT * FROM templates WHERE template_id = $1"

SELECT_DEFAULT_TEMPLATE = """
SELECT * FROM templates
WHERE NOT is_system AND is_default AND type = $1 AND ($2::integer IS NULL OR subtype = $2)
ORDER BY subtype
LIMIT 1
"""

# The filters of ListCustomTemplates and ListSystemTemplates; NULL means "no filter". Name is a
# case-insensitive substring match; strpos avoids having to escape LIKE wildcards in user input.
_LIST_WHERE = """
WHERE is_system = $1
  AND type = ANY($2::integer[])
  AND ($3::integer IS NULL OR subtype = $3)
  AND ($4::text IS NULL OR template_id = $4)
  AND ($5::text IS NULL OR strpos(lower(name), lower($5)) > 0)
  AND ($6::text[] IS NULL OR status = ANY($6::text[]))
"""
COUNT_TEMPLATES = "SELECT count(*) FROM templates" + _LIST_WHERE
LIST_TEMPLATES_DESC = (
    "SELECT * FROM templates" + _LIST_WHERE + "ORDER BY create_time DESC, template_id DESC LIMIT $7 OFFSET $8"
)
LIST_TEMPLATES_ASC = "SELECT * FROM templates" + _LIST_WHERE + "ORDER BY create_time, template_id LIMIT $7 OFFSET $8"

UPDATE_TEMPLATE = """
UPDATE templates
SET name = coalesce($2, name), config = coalesce($3, config), modified_time = now()
WHERE template_id = $1 AND NOT is_system
RETURNING *
"""

DELETE_TEMPLATE = "DELETE FROM templates WHERE template_id = $1 AND NOT is_system"

LOCK_DEFAULT_SLOT = "SELECT pg_advisory_xact_lock($1, $2)"
LOCK_TEMPLATE = "SELECT * FROM templates WHERE template_id = $1 AND NOT is_system FOR UPDATE"
CLEAR_DEFAULTS = """
UPDATE templates SET is_default = false, modified_time = now()
WHERE type = $1 AND subtype = $2 AND is_default AND template_id <> $3
"""
MARK_DEFAULT = "UPDATE templates SET is_default = true, modified_time = now() WHERE template_id = $1 RETURNING *"

#: first key of the default-switch advisory lock ("tdef" in ASCII); the second is type·100 + subtype
DEFAULT_LOCK_KEY = 0x74646566


@dataclass(frozen=True, slots=True)
class Template:
    """A template row."""

    template_id: str
    name: str
    type: int
    subtype: int
    is_system: bool
    is_default: bool
    status: str
    config: dict[str, Any]
    create_time: datetime
    modified_time: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Template:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class TemplateQuery:
    """Filters and paging of the two list actions; None means "any"."""

    system: bool
    types: tuple[int, ...]
    subtype: int | None = None
    template_id: str | None = None
    name: str | None = None
    statuses: tuple[str, ...] | None = None
    descending: bool = True
    page_number: int = 1
    page_size: int = 20


@store_methods
class TemplateStore:
    """All SQL touching the templates table outside job submission."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        #: system templates by id: they change only with a migration, which restarts the service, so one
        #: store per process (built by the composition root) keeps them for its life
        self._system: dict[str, Template] = {}

    async def create(self, template_id: str, name: str, type_: int, subtype: int, config: dict[str, Any]) -> Template:
        row = await self.pool.fetchrow(INSERT_TEMPLATE, template_id, name, type_, subtype, config)
        return Template.from_row(returned(row))

    async def get(self, template_id: str) -> Template | None:
        """Any template, system or custom; callers decide which kind they accept."""
        row = await self.pool.fetchrow(SELECT_TEMPLATE, template_id)
        return Template.from_row(row) if row else None

    async def get_cached(self, template_id: str) -> Template | None:
        """`get`, with system templates kept in process: migrations are their only writer."""
        cached = self._system.get(template_id)
        if cached is not None:
            return cached
        template = await self.get(template_id)
        if template is not None and template.is_system:
            self._system[template_id] = template
        return template

    async def default(self, type_: int, subtype: int | None) -> Template | None:
        """The default custom template of a type (and subtype; without one, the lowest subtype's)."""
        row = await self.pool.fetchrow(SELECT_DEFAULT_TEMPLATE, type_, subtype)
        return Template.from_row(row) if row else None

    async def list(self, query: TemplateQuery) -> tuple[int, list[Template]]:
        """(Total matching, this page)."""
        where = (
            query.system,
            list(query.types),
            query.subtype,
            query.template_id,
            query.name,
            list(query.statuses) if query.statuses is not None else None,
        )
        sql = LIST_TEMPLATES_DESC if query.descending else LIST_TEMPLATES_ASC
        offset = (query.page_number - 1) * query.page_size
        async with self.pool.acquire() as connection:
            total = await connection.fetchval(COUNT_TEMPLATES, *where)
            rows = await connection.fetch(sql, *where, query.page_size, offset)
        return int(total), [Template.from_row(row) for row in rows]

    async def update(self, template_id: str, name: str | None, config: dict[str, Any] | None) -> Template | None:
        """Change a custom template; None if there is no such custom template."""
        row = await self.pool.fetchrow(UPDATE_TEMPLATE, template_id, name, config)
        return Template.from_row(row) if row else None

    async def delete(self, template_id: str) -> bool:
        result = await self.pool.execute(DELETE_TEMPLATE, template_id)
        return result == "DELETE 1"

    async def set_default(self, template: Template) -> Template | None:
        """Make `template` the one default of its type+subtype; None if it has gone meanwhile."""
        if template.is_system:
            raise SystemTemplateReadOnly()
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(LOCK_DEFAULT_SLOT, DEFAULT_LOCK_KEY, template.type * 100 + template.subtype)
            if await connection.fetchrow(LOCK_TEMPLATE, template.template_id) is None:
                return None
            await connection.execute(CLEAR_DEFAULTS, template.type, template.subtype, template.template_id)
            row = await connection.fetchrow(MARK_DEFAULT, template.template_id)
        return Template.from_row(returned(row))
