"""The ``cloudrec`` command: ``serve`` runs the service, ``worker`` records for
a cluster's control nodes, ``peer`` a synthetic
participant, ``token`` mints access tokens, ``recordings`` manages files."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer

from cloudrec import config as config_module
from cloudrec.auth import ALL_ROOMS, GRANTS, basic_header, mint_token
from cloudrec.client import Participant
from cloudrec.cluster.node import WorkerNode
from cloudrec.config import ConfigError
from cloudrec.storage.webhook import signing_key
from cloudrec.synthetic import (
    AUDIO_PTIME_S,
    AUDIO_RATE,
    ColorVideoTrack,
    FlashSchedule,
    ReplayTrack,
    ReplayVideoTrack,
    ScreenTrack,
    ToneAudioTrack,
    encode_audio_loop,
    parse_hex_color,
)
from signaling.server import start_server

# Where a worker serves /metrics unless told: beside a control node's 8080.
WORKER_PORT = 8090

DEMO_TOKEN_TTL_S = 24 * 3600
DEFAULT_COLOR = "#2060C0"
DEFAULT_TONE_HZ = 440.0


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, not {value!r}") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError("size must be positive and even, e.g. 320x240")
    return w, h


def _color(value: str) -> str:
    try:
        parse_hex_color(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _grants(value: str) -> tuple[str, ...]:
    grants = tuple(g.strip() for g in value.split(",") if g.strip())
    unknown = set(grants) - set(GRANTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown grants {sorted(unknown)}; known: {GRANTS}")
    return grants


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudrec", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run signaling and REST, with a recording bot process per recorded room"
    )
    config_module.add_arguments(serve)

    worker = commands.add_parser(
        "worker",
        help="run recording bots for the control nodes that share a Redis (--redis)",
        description="Heartbeats into Redis and runs the recordings placed on it. SIGTERM "
        "drains (no new jobs; ends when its recordings have), a second SIGTERM or SIGINT "
        "ends it at once. Needs the control nodes' CLOUDREC_API_KEY and CLOUDREC_API_SECRET.",
    )
    config_module.add_arguments(worker)
    worker.add_argument(
        "--node-id",
        default=os.environ.get("CLOUDREC_NODE_ID") or socket.gethostname(),
        help="this worker's name in the cluster, unique (env CLOUDREC_NODE_ID, default the host"
        " name)",
    )
    worker.add_argument(
        "--capacity-cores",
        type=float,
        default=float(os.environ.get("CLOUDREC_CAPACITY_CORES") or os.cpu_count() or 1),
        help="cores recordings may take here (env CLOUDREC_CAPACITY_CORES, default all)",
    )

    peer = commands.add_parser(
        "peer",
        help="synthetic participants that publish test media",
        description="One participant, or several (repeat --user, and --color, --tone and "
        "--token once per user if given): several in one process share its event loop, "
        "and their media is sent on one shared clock, so a load test's publishers cost "
        "the machine it measures little.",
    )
    peer.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8080")
    peer.add_argument("--room", required=True, help="room to join")
    peer.add_argument("--user", required=True, action="append", help="user ID to join as")
    peer.add_argument(
        "--token", action="append", help="access token (env CLOUDREC_TOKEN); none in --dev"
    )
    peer.add_argument(
        "--color", type=_color, action="append", help=f"camera colour #RRGGBB ({DEFAULT_COLOR})"
    )
    peer.add_argument(
        "--tone", type=float, action="append", help=f"sine tone in Hz ({DEFAULT_TONE_HZ:g})"
    )
    peer.add_argument("--size", type=_size, default=(320, 240), help="camera size WxH")
    peer.add_argument("--fps", type=int, default=15, help="camera frame rate")
    peer.add_argument(
        "--flash",
        action="store_true",
        help="a white frame once a second and a 50 ms beep in sync with it, for A/V sync checks",
    )
    peer.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        metavar="PPM",
        help="the camera's and microphone's clock run this many parts per million fast "
        "(negative: slow) against the wall clock, as a device's crystal does",
    )
    peer.add_argument("--screen", action="store_true", help="also share a synthetic screen")
    peer.add_argument("--media", type=Path, help="also share this media file's video and sound")
    peer.add_argument(
        "--replay",
        action="store_true",
        help="send a pre-encoded loop instead of encoding live: a cheap publisher for load tests",
    )
    peer.add_argument(
        "--prepare",
        type=_size,
        metavar="WxH",
        help="with --replay: encode the loop for a recorder showing it in a WxH box at start",
    )
    peer.add_argument(
        "--fixed-size",
        action="store_true",
        help="ignore the recorder's size requests and always send the camera at --size",
    )
    peer.add_argument("--seconds", type=float, default=0.0, help="leave after this long (0: never)")

    token = commands.add_parser("token", help="mint an access token (signed with the API secret)")
    token.add_argument("--room", default=ALL_ROOMS, help=f"room it admits to ({ALL_ROOMS!r}: any)")
    token.add_argument("--user", required=True, help="user ID it is for")
    token.add_argument(
        "--grants",
        type=_grants,
        default=GRANTS,
        help=f"comma-separated, of {', '.join(GRANTS)} (default: all)",
    )
    token.add_argument("--ttl", type=int, default=DEMO_TOKEN_TTL_S, help="lifetime in seconds")
    config_module.add_arguments(token)

    secret = commands.add_parser(
        "webhook-secret",
        help="print the key lifecycle webhooks are signed with (whsec_..., to verify them)",
    )
    config_module.add_arguments(secret)

    recs = commands.add_parser("recordings", help="list, get, download or delete recordings")
    recs.add_argument("action", choices=["list", "get", "download", "delete"])
    recs.add_argument("id", nargs="?", type=int, help="recording id (get, download, delete)")
    recs.add_argument("--server", default="http://127.0.0.1:8080", help="server URL")
    recs.add_argument("--room", help="list: only this room")
    recs.add_argument("--page", type=int, default=1, help="list: page number")
    recs.add_argument("--output", type=Path, help="download: where to write (default: its name)")
    config_module.add_arguments(recs)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    server = await start_server(config_module.from_arguments(args))
    # Everything loaded so far (modules, the app) lives as long as the process:
    # out of the collector's sight, a full collection, which stops the event loop
    # and with it every recording's clock, scans far less (measured: 38-49 ms
    # pauses down to 6-24 ms with 1-4 rooms recording).
    gc.collect()
    gc.freeze()
    print(f"cloudrec serving on {server.base_url}", flush=True)
    if not server.config.dev and server.config.is_loopback:
        demo = mint_token(server.config.api_secret, ALL_ROOMS, "operator", GRANTS, DEMO_TOKEN_TTL_S)
        print(f"demo page (token valid 24 h): {server.base_url}/?token={demo}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.getLogger(__name__).info("shutting down: finalising running recordings")
    await server.close()


async def _worker(args: argparse.Namespace) -> None:
    config = config_module.from_arguments(args)
    if args.port is None and "CLOUDREC_PORT" not in os.environ:
        config = replace(config, port=WORKER_PORT)
    node = WorkerNode(config, args.node_id, args.capacity_cores)
    drain, stop = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def terminate() -> None:
        (stop if drain.is_set() else drain).set()

    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    gc.collect()
    gc.freeze()
    await node.run(drain, stop)


def _per_user(args: argparse.Namespace, name: str, default: Any) -> list[Any]:
    """A repeated option's values, one per --user: given once per user, or
    never (the default for all)."""
    values = getattr(args, name)
    if values is None:
        return [default] * len(args.user)
    if len(values) != len(args.user):
        raise SystemExit(f"--{name} must be given once per --user ({len(args.user)}) or not at all")
    return list(values)


async def _peer(args: argparse.Namespace) -> None:
    if len(args.user) > 1 and (args.screen or args.media):
        raise SystemExit("--screen and --media are for one --user")
    colors = _per_user(args, "color", DEFAULT_COLOR)
    tones = _per_user(args, "tone", DEFAULT_TONE_HZ)
    env_token = os.environ.get("CLOUDREC_TOKEN", "") if len(args.user) == 1 else ""
    tokens = _per_user(args, "token", env_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for user, color, tone, token in zip(args.user, colors, tones, tokens, strict=True):
            participant = await stack.enter_async_context(
                Participant(
                    args.server, args.room, user, token, follow_size_requests=not args.fixed_size
                )
            )
            await _publish(participant, args, color, tone)
            print(f"{user} joined {args.room}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds or None)


async def _publish(
    participant: Participant, args: argparse.Namespace, color: str, tone: float
) -> None:
    width, height = args.size
    video: MediaStreamTrack
    audio: MediaStreamTrack
    if args.replay:
        skew = args.clock_skew
        video = ReplayVideoTrack(color, width, height, args.fps, args.prepare, skew)
        audio = ReplayTrack("audio", encode_audio_loop(tone), AUDIO_PTIME_S, AUDIO_RATE, skew)
    else:
        flash = FlashSchedule(args.fps) if args.flash else None
        video = ColorVideoTrack(color, width, height, args.fps, flash, args.clock_skew)
        audio = ToneAudioTrack(tone, flash, args.clock_skew)
    screen = ScreenTrack() if args.screen else None
    player = MediaPlayer(str(args.media), loop=True) if args.media else None
    media = (player.video, player.audio) if player is not None else None
    await participant.publish(video=video, audio=audio, screen=screen, media=media)


def _token(args: argparse.Namespace) -> None:
    config = config_module.with_credentials(config_module.from_arguments(args))
    print(mint_token(config.api_secret, args.room, args.user, args.grants, args.ttl))


async def _recordings(args: argparse.Namespace) -> int:
    config = config_module.with_credentials(config_module.from_arguments(args))
    if args.action != "list" and args.id is None:
        raise SystemExit("cloudrec recordings: this action needs a recording id")
    base = f"{args.server.rstrip('/')}/api/v1/recordings"
    auth = {"Authorization": basic_header(config.api_key, config.api_secret)}
    async with aiohttp.ClientSession(headers=auth) as http:
        if args.action == "download":
            async with http.get(f"{base}/{args.id}") as resp:
                meta = await _checked(resp)
            target = args.output or Path(str(meta["fileName"]).rsplit("/", 1)[-1])
            async with http.get(f"{base}/{args.id}/download") as resp:
                if resp.status != 200:
                    await _checked(resp)
                with target.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        out.write(chunk)
            print(f"{target} ({target.stat().st_size} bytes)")
            return 0
        if args.action == "list":
            params = {"page": str(args.page), **({"room": args.room} if args.room else {})}
            request = http.get(base, params=params)
        elif args.action == "get":
            request = http.get(f"{base}/{args.id}")
        else:
            request = http.delete(f"{base}/{args.id}")
        async with request as resp:
            print(json.dumps(await _checked(resp), indent=2))
    return 0


async def _checked(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    if resp.status >= 400:
        raise SystemExit(f"cloudrec: HTTP {resp.status}: {body.get('message', body)}")
    return body


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            asyncio.run(_serve(args))
        elif args.command == "worker":
            asyncio.run(_worker(args))
        elif args.command == "peer":
            asyncio.run(_peer(args))
        elif args.command == "token":
            _token(args)
        elif args.command == "webhook-secret":
            config = config_module.with_credentials(config_module.from_arguments(args))
            print(signing_key(config))
        else:
            return asyncio.run(_recordings(args))
    except ConfigError as exc:
        # What to change, in one line: a traceback would say nothing more.
        print(f"cloudrec: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
