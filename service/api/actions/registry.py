"""The ICE action endpoint: `POST /` (and GET) routed on `x-acs-action` or the `Action` parameter.

Under signature V3 the action travels only in the `x-acs-action` header; under RPC v1 it is the
signed `Action` query parameter, which then wins over the (unsigned) header.

`run` is the one door to an action, for this endpoint and for the REST routes alike: with
authentication on, it refuses to run any action but the one the request's signature names, so a
signed request cannot be replayed on another route or under another action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from service.api.actions.params import Params, read_params
from service.api.envelope import ok
from service.api.keys import ACTION, SIGNED_ACTION
from service.errors import InvalidAction, MissingParameter, SignatureMismatch

Action = Callable[[web.Request, Params], Awaitable[dict[str, Any]]]

ACTION_HEADER = "x-acs-action"


class ActionRegistry:
    """Maps ICE action names to handlers."""

    def __init__(self, actions: Mapping[str, Action]) -> None:
        self.actions = dict(actions)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        params = await read_params(request)
        name = params.string("Action") or request.headers.get(ACTION_HEADER)
        if not name:
            raise MissingParameter('The action is missing: send the "x-acs-action" header or the "Action" parameter.')
        return await self.run(request, name, params)

    async def run(self, request: web.Request, name: str, params: Params) -> web.StreamResponse:
        """Run action `name` with `params`, if it is the action the request was signed for."""
        handler = self.actions.get(name)
        if handler is None:
            raise InvalidAction(f'The specified action "{name}" is not valid.')
        signed = request.get(SIGNED_ACTION)
        if signed is not None and signed != name:
            raise SignatureMismatch(f'The request is signed for the action "{signed or "(none)"}", not for "{name}".')
        request[ACTION] = name
        return ok(request, await handler(request, params))
