"""The ``cloudrec`` command: ``serve`` runs the service, ``peer`` a synthetic participant."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from cloudrec import config as config_module
from cloudrec.client import Participant
from cloudrec.server import start_server
from cloudrec.synthetic import ColorVideoTrack, ToneAudioTrack, parse_hex_color


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudrec", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run signaling, REST and the recorder in one process")
    config_module.add_arguments(serve)

    peer = commands.add_parser("peer", help="a synthetic participant that publishes test media")
    peer.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8080")
    peer.add_argument("--room", required=True, help="room to join")
    peer.add_argument("--user", required=True, help="user ID to join as")
    peer.add_argument("--color", type=_color, default="#2060C0", help="camera colour #RRGGBB")
    peer.add_argument("--tone", type=float, default=440.0, help="sine tone in Hz")
    peer.add_argument("--size", type=_size, default=(320, 240), help="camera size WxH")
    peer.add_argument("--fps", type=int, default=15, help="camera frame rate")
    peer.add_argument(
        "--flash",
        action="store_true",
        help="a white frame and a 50 ms beep at each whole second, for A/V sync checks",
    )
    peer.add_argument("--seconds", type=float, default=0.0, help="leave after this long (0: never)")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    config = config_module.from_arguments(args)
    server = await start_server(config)
    print(f"cloudrec serving on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.getLogger(__name__).info("shutting down: finalising running recordings")
    await server.close()


async def _peer(args: argparse.Namespace) -> None:
    width, height = args.size
    video = ColorVideoTrack(args.color, width, height, args.fps, args.flash)
    audio = ToneAudioTrack(args.tone, args.flash)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Participant(args.server, args.room, args.user) as participant:
        await participant.publish(video=video, audio=audio)
        print(f"{args.user} joined {args.room}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds or None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runner = _serve if args.command == "serve" else _peer
    asyncio.run(runner(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
