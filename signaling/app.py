"""The aiohttp application: WebSocket signaling, REST control, the web page."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from cloudrec.config import Config
from signaling.mixer_control import BotLauncher, MixerControl
from signaling.rest import RestApi
from signaling.rooms import RoomRegistry
from signaling.ws import SignalingEndpoint

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONTROL_KEY = web.AppKey("control", MixerControl)
ROOMS_KEY = web.AppKey("rooms", RoomRegistry)


def make_app(config: Config, launcher: BotLauncher) -> web.Application:
    app = web.Application(client_max_size=config.max_message_bytes * 4)
    rooms = RoomRegistry(config.max_rooms, config.max_peers_per_room)
    control = MixerControl(config, rooms, launcher)
    endpoint = SignalingEndpoint(config, rooms, control)
    app[CONTROL_KEY] = control
    app[ROOMS_KEY] = rooms
    app.router.add_get("/ws", endpoint.handle)
    app.router.add_routes(RestApi(rooms, control).routes())
    if (WEB_DIR / "index.html").exists():

        async def index(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(WEB_DIR / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/web/", WEB_DIR)

    async def close_connections(_app: web.Application) -> None:
        await endpoint.close()

    app.on_shutdown.append(close_connections)
    return app
