"""``/metrics`` (Prometheus text), ``/healthz`` (the process answers) and
``/readyz`` (it can do its work), for control nodes and workers alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], Awaitable[list[str]]]


async def _nothing() -> None:
    return None


def health_routes(
    registry: CollectorRegistry,
    problems: Check,
    before_scrape: Callable[[], Awaitable[None]] = _nothing,
) -> list[web.RouteDef]:
    """``problems`` says what keeps the process from being ready (nothing: ready);
    ``before_scrape`` brings gauges that are read from elsewhere up to date."""

    async def metrics(_request: web.Request) -> web.Response:
        await before_scrape()
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_request: web.Request) -> web.Response:
        found = await problems()
        return web.json_response(
            {"ready": not found, "problems": found}, status=503 if found else 200
        )

    return [
        web.get("/metrics", metrics),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
    ]
