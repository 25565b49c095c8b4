"""Plumbing the stores share: the connection type their functions take, rows that must exist, page tokens."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from service.errors import InternalError, InvalidParameter

#: what a store function runs its statements on: a connection taken from the pool (inside the caller's
#: transaction), or a plain one
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def returned(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row an `INSERT/UPDATE … RETURNING` of a row known to exist gives back; none is a bug."""
    if row is None:
        raise InternalError("A statement that always returns a row returned none.")
    return row


def encode_keyset(created: datetime, ident: str) -> str:
    """A page token: where a (create_time, id) keyset page ended, opaque to the caller."""
    raw = orjson.dumps([created.isoformat(), ident])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_keyset(token: str, field: str) -> tuple[datetime, str]:
    """The (create_time, id) a page token names; InvalidParameter naming `field` for anything else."""
    try:
        padded = token + "=" * (-len(token) % 4)
        created, ident = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(ident)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter.named(field, "It is not a token this service issued.") from exc
