"""Plumbing the stores share: the connection type their functions take, rows that must exist, page tokens."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from service.errors import InternalError

#: what a store function runs its statements on: a connection taken from the pool (inside the caller's
#: transaction), or a plain one
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def returned(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row an `INSERT/UPDATE … RETURNING` of a row known to exist gives back; none is a bug."""
    if row is None:
        raise InternalError("A statement that always returns a row returned none.")
    return row
