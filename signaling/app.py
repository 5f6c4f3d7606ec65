"""The aiohttp application: WebSocket signaling, REST control, the files APIs,
the web page."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from cloudrec import __version__
from cloudrec.config import Config
from cloudrec.health import health_routes
from cloudrec.storage.resources import ResourceStore
from signaling.auto_record import AutoRecorder
from signaling.cluster_launcher import ClusterLauncher
from signaling.files_api import FilesApi
from signaling.http_auth import auth_middleware
from signaling.http_errors import error_middleware
from signaling.metrics import ControlMetrics
from signaling.mixer_control import BotLauncher, MixerControl
from signaling.netdisk import Netdisk
from signaling.openapi import openapi_document
from signaling.recordings import Recordings
from signaling.resources_api import ResourcesApi
from signaling.rest import RestApi
from signaling.rooms import RoomRegistry
from signaling.webhooks_api import WebhooksApi
from signaling.ws import SignalingEndpoint


def web_dir() -> Path:
    """The demo page: installed inside the cloudrec package (pyproject.toml
    maps web/ there), or web/ beside the packages in a checkout."""
    installed = Path(str(resources.files("cloudrec"))) / "web"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "web"


WEB_DIR = web_dir()
CONTROL_KEY = web.AppKey("control", MixerControl)
ROOMS_KEY = web.AppKey("rooms", RoomRegistry)
RECORDINGS_KEY = web.AppKey("recordings", Recordings)


def make_app(
    config: Config,
    launcher: BotLauncher,
    recordings: Recordings,
    metrics: ControlMetrics | None = None,
) -> web.Application:
    metrics = metrics or ControlMetrics()
    app = web.Application(
        client_max_size=config.max_message_bytes * 4,
        middlewares=[error_middleware, auth_middleware(config)],
    )
    rooms = RoomRegistry(config.max_rooms, config.max_peers_per_room, config.max_message_bytes)
    resources = ResourceStore(config.resources_dir)
    cluster = launcher if isinstance(launcher, ClusterLauncher) else None
    control = MixerControl(config, rooms, launcher, recordings, resources, metrics, cluster)
    endpoint = SignalingEndpoint(config, rooms, control, AutoRecorder(config, control))
    app[CONTROL_KEY] = control
    app[ROOMS_KEY] = rooms
    app[RECORDINGS_KEY] = recordings
    app.router.add_get("/ws", endpoint.handle)
    app.router.add_routes(RestApi(rooms, control).routes())
    app.router.add_routes(FilesApi(config, recordings).routes())
    app.router.add_routes(Netdisk(config, recordings).routes())
    app.router.add_routes(ResourcesApi(resources).routes())
    app.router.add_routes(WebhooksApi(recordings.webhook).routes())

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app.router.add_get("/api/openapi.json", openapi)

    async def info(_request: web.Request) -> web.Response:
        # Public: the page shows a dev-mode warning from it; nothing secret here.
        return web.json_response({"dev": config.dev, "version": __version__})

    app.router.add_get("/api/info", info)

    async def problems() -> list[str]:
        found = [] if recordings.index.healthy() else ["the recordings index cannot be read"]
        if cluster is not None:
            try:
                workers = await cluster.workers()
            except Exception as exc:  # whatever Redis says, it is not ready
                return [*found, f"Redis at {cluster.where} is unreachable: {exc}"]
            if not any(not w.draining for w in workers):
                found.append("no worker is alive and taking jobs")
        return found

    async def before_scrape() -> None:
        metrics.running.set(control.running_sessions())
        if cluster is None:
            return
        metrics.worker_cores.clear()
        try:
            workers = await cluster.workers()
        except Exception:  # Redis away: the gauges say nothing rather than something stale
            metrics.workers_alive.set(0)
            return
        metrics.workers_alive.set(len(workers))
        for w in workers:
            for kind, value in (
                ("capacity", w.cores),
                ("used", w.used),
                ("reserved", w.reserved),
                ("free", w.free),
            ):
                metrics.worker_cores.labels(w.node_id, kind).set(value)

    app.router.add_routes(health_routes(metrics.registry, problems, before_scrape))
    if (WEB_DIR / "index.html").exists():

        async def index(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(WEB_DIR / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/web/", WEB_DIR)

    async def close_connections(_app: web.Application) -> None:
        await endpoint.close()

    app.on_shutdown.append(close_connections)
    return app
