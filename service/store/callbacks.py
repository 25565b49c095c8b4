"""The global event-callback configuration (SetEventCallback / GetEventCallback): one row at most."""

from __future__ import annotations

from dataclasses import dataclass, fields

import asyncpg

from service.store.pool import store_methods

SELECT_CALLBACK = (
    "SELECT callback_type, callback_url, callback_queue_name, event_type_list, auth_switch, auth_key "
    "FROM event_callback"
)

UPSERT_CALLBACK = """
INSERT INTO event_callback
    (singleton, callback_type, callback_url, callback_queue_name, event_type_list, auth_switch, auth_key)
VALUES (true, $1, $2, $3, $4, $5, $6)
ON CONFLICT (singleton) DO UPDATE
SET callback_type = EXCLUDED.callback_type, callback_url = EXCLUDED.callback_url,
    callback_queue_name = EXCLUDED.callback_queue_name, event_type_list = EXCLUDED.event_type_list,
    auth_switch = EXCLUDED.auth_switch, auth_key = EXCLUDED.auth_key, modified_time = now()
"""


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """Where completion events go; fields that do not apply to `callback_type` are ''."""

    callback_type: str
    callback_url: str = ""
    callback_queue_name: str = ""
    #: comma-separated event names
    event_type_list: str = ""
    #: "on" | "off" for HTTP, "" for MNS
    auth_switch: str = ""
    auth_key: str = ""


@store_methods
class CallbackStore:
    """Reads and replaces the single callback configuration."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def get(self) -> CallbackConfig | None:
        """The configuration, or None if SetEventCallback was never called."""
        row = await self.pool.fetchrow(SELECT_CALLBACK)
        return CallbackConfig(**{f.name: row[f.name] for f in fields(CallbackConfig)}) if row else None

    async def put(self, config: CallbackConfig) -> None:
        """Replace the configuration as a whole (ICE's SetEventCallback is not a partial update)."""
        await self.pool.execute(
            UPSERT_CALLBACK,
            config.callback_type,
            config.callback_url,
            config.callback_queue_name,
            config.event_type_list,
            config.auth_switch,
            config.auth_key,
        )
