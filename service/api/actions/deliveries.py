"""Extension actions (not in ICE): inspect HTTP callback deliveries and replay failed ones."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.api.actions.params import Params
from service.api.keys import PG_POOL
from service.domain.request_fields import DELIVERY_STATUS
from service.errors import ResourceNotFound
from service.store.deliveries import list_deliveries, replay


async def list_callback_deliveries(request: web.Request, params: Params) -> dict[str, Any]:
    status = params.field(DELIVERY_STATUS)
    deliveries = await list_deliveries(request.app[PG_POOL], params.string("JobId"), status)
    return {"Deliveries": deliveries}


async def replay_callback_delivery(request: web.Request, params: Params) -> dict[str, Any]:
    delivery_id = params.string("DeliveryId", required=True) or ""
    if not await replay(request.app[PG_POOL], delivery_id):
        raise ResourceNotFound.of("DeliveryId", f"{delivery_id} (or it is still pending)")
    return {"Success": True}
