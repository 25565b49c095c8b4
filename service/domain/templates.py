"""ICE's template vocabulary for snapshot templates: the type id, the subtypes, the list orders."""

from __future__ import annotations

#: ICE template type ids run 1..11 (§5.1 of the API notes); 2 is the snapshot type, the only one served
SNAPSHOT_TYPE, ICE_TYPE_IDS = 2, range(1, 12)
SNAPSHOT_TYPE_NAME = "SnapshotTemplate"
SUBTYPE_NAMES = {1: "Normal", 2: "Sprite", 3: "WebVtt"}
SUBTYPE_IDS = {name.lower(): number for number, name in SUBTYPE_NAMES.items()}
#: OrderBy values → descending: the documented ones, and the spelling the SDK capture used (sdk-wire.md §3)
ORDERS = {"CreationTime:Desc": True, "CreationTime:Asc": False, "CreateTimeDesc": True, "CreateTimeAsc": False}
#: ListSystemTemplates' Status filter → the statuses it selects (None: any)
SYSTEM_STATUSES: dict[str, tuple[str, ...] | None] = {"Normal": ("Normal",), "Invisible": ("Invisible",), "All": None}
