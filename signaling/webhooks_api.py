"""What the webhook outbox holds, for the operator: each delivery with its
attempts and last error."""

from __future__ import annotations

from aiohttp import web

from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.outbox import DELIVERED, GIVEN_UP, PENDING
from cloudrec.storage.webhook import Webhook
from signaling.files_api import page_params
from signaling.http_auth import identity

STATES = (PENDING, DELIVERED, GIVEN_UP)


class WebhooksApi:
    def __init__(self, webhook: Webhook) -> None:
        self._webhook = webhook

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/v1/webhooks/deliveries", self.deliveries)]

    async def deliveries(self, request: web.Request) -> web.Response:
        # Every room's events are in it: the API key's, not a room's token's.
        if not identity(request).operator:
            raise CloudrecError(ErrorCode.PERMISSIONDENIED, "the API key is needed")
        state = request.query.get("state") or None
        if state is not None and state not in STATES:
            raise CloudrecError(ErrorCode.PARAM_ERR, f"state must be one of {', '.join(STATES)}")
        page, size = page_params(request.query)
        items, total = self._webhook.deliveries(state, (page - 1) * size, size)
        return web.json_response(
            {
                "deliveries": [d.to_json() for d in items],
                "total": total,
                "page": page,
                "pageSize": size,
            }
        )
