"""Extension actions (not in ICE): inspect HTTP callback deliveries and replay failed ones."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.api.actions.params import Params
from service.api.keys import PG_POOL
from service.domain.request_fields import DELIVERY_JOB_FILTER, DELIVERY_STATUS
from service.errors import ResourceNotFound
from service.store.deliveries import DeliveryRecord, list_deliveries, replay


def delivery_view(delivery: DeliveryRecord) -> dict[str, Any]:
    return {
        "DeliveryId": delivery.delivery_id,
        "JobId": delivery.job_id,
        "MessageId": delivery.message_id,
        "Url": delivery.url,
        "Status": delivery.status,
        "Attempts": delivery.attempts,
        "LastError": delivery.last_error,
    }


async def list_callback_deliveries(request: web.Request, params: Params) -> dict[str, Any]:
    status = params.field(DELIVERY_STATUS)
    deliveries = await list_deliveries(request.app[PG_POOL], params.field(DELIVERY_JOB_FILTER), status)
    return {"Deliveries": [delivery_view(delivery) for delivery in deliveries]}


async def replay_callback_delivery(request: web.Request, params: Params) -> dict[str, Any]:
    delivery_id = params.string("DeliveryId", required=True) or ""
    if not await replay(request.app[PG_POOL], delivery_id):
        raise ResourceNotFound.of("DeliveryId", f"{delivery_id} (or it is still pending)")
    return {"Success": True}
