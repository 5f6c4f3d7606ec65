"""Shared pieces of integration tests: synthetic rooms and event logs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np

from cloudrec.auth import GRANTS, basic_header, mint_token
from cloudrec.client import Participant, Route
from cloudrec.storage.index import RECORDING, RecordingIndex
from cloudrec.synthetic import ColorVideoTrack, FlashSchedule, ToneAudioTrack
from cloudrec.wire import AV_AUDIO, MixerState, OutputSpec, OutputState, OutputType, VideoCfg
from recorder.audio import TICK_SAMPLES, to_frame
from recorder.outputs import FileOutput

API_KEY = "test-key"
API_SECRET = "test-secret-that-is-long-enough-for-hs256"
API_AUTH = {"Authorization": basic_header(API_KEY, API_SECRET)}

EVENT_TIMEOUT_S = 20.0
# Publishers small and slow enough that two of them, the bot and the encoder
# share a 2-core CI machine without late ticks.
PEER_SIZE = (320, 240)
PEER_FPS = 15

RED = ("#FF0000", (255, 0, 0), 440.0)
BLUE = ("#0000FF", (0, 0, 255), 1500.0)


@dataclass
class Event:
    name: str
    data: dict[str, Any]
    at: float


@dataclass
class EventLog:
    """Every mixer event a participant receives, with its arrival time."""

    events: list[Event] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, participant: Participant) -> None:
        for name in ("svrMixerStateChanged", "svrMixerOutputInfo", "svrMixerCfgChanged"):
            participant.on(name, partial(self._add, name))

    def _add(self, name: str, data: dict[str, Any]) -> None:
        self.events.append(Event(name, data, asyncio.get_running_loop().time()))
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = EVENT_TIMEOUT_S
    ) -> Event:
        async def find() -> Event:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                # One loop, no await between the scan and clear(): nothing is missed.
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_state(self, state: int) -> Event:
        return await self.wait_for(
            lambda e: e.name == "svrMixerStateChanged" and e.data["state"] == state
        )

    async def wait_duration(self, ms: int) -> Event:
        return await self.wait_for(
            lambda e: e.name == "svrMixerOutputInfo" and e.data["duration"] >= ms
        )

    async def wait_output(
        self,
        file_name: str,
        *,
        state: int | None = None,
        duration: float = 0,
        timeout: float = EVENT_TIMEOUT_S,
    ) -> Event:
        """Output info of one file: in ``state`` if given, and holding at least
        ``duration`` ms."""
        return await self.wait_for(
            lambda e: (
                e.name == "svrMixerOutputInfo"
                and e.data["fileName"] == file_name
                and (state is None or e.data["state"] == state)
                and e.data["duration"] >= duration
            ),
            timeout,
        )

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def file_time(self, at: float) -> float:
        """Where loop time ``at`` falls in the file, from the last output info
        received by then: its duration counts the frames written, so the
        estimate errs early, by that event's delivery and the encoder's queue,
        never late, however loaded the machine."""
        last = [e for e in self.named("svrMixerOutputInfo") if e.at <= at][-1]
        return float(last.data["duration"]) / 1000 + at - last.at


def add_row(
    index: RecordingIndex, room: str, file_name: str, path: Path, state: str = RECORDING
) -> int:
    """An index row of a 640x360 H.264/AAC recording, as the recorder would add."""
    return index.add(
        room=room,
        mixer_id="1",
        file_name=file_name,
        path=path,
        container=file_name.rsplit(".", 1)[-1],
        video_codec="h264",
        audio_codec="aac",
        width=640,
        height=360,
        fps=15.0,
        state=state,
    )


def token(room: str, user: str, grants: tuple[str, ...] = GRANTS, ttl_s: int = 600) -> str:
    return mint_token(API_SECRET, room, user, grants, ttl_s)


def participant(
    base_url: str, room: str, user: str, grants: tuple[str, ...] = GRANTS
) -> Participant:
    return Participant(base_url, room, user, token(room, user, grants))


async def synthetic_participant(
    base_url: str,
    room: str,
    user: str,
    color: str,
    tone: float,
    *,
    flash: bool = False,
    route: Route | None = None,
) -> Participant:
    """``route``: what its media goes through (an impairing relay)."""
    participant = Participant(base_url, room, user, token(room, user), route=route)
    await participant.join()
    schedule = FlashSchedule(PEER_FPS) if flash else None
    await participant.publish(
        video=ColorVideoTrack(color, *PEER_SIZE, PEER_FPS, schedule),
        audio=ToneAudioTrack(tone, schedule),
    )
    return participant


def side_by_side(left: str, right: str, *, timestamp: bool = True) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [
        {
            "type": 0,
            "left": 0,
            "top": 0,
            "width": 320,
            "height": 360,
            "keepAspectRatio": 1,
            "param": {"camid": f"{left}.-1"},
        },
        {
            "type": 0,
            "left": 320,
            "top": 0,
            "width": 320,
            "height": 360,
            "keepAspectRatio": 1,
            "param": {"camid": f"{right}.-1"},
        },
    ]
    if timestamp:
        content.append({"type": 4, "left": 0, "top": 0, "width": 175, "height": 32})
    return [{"id": "1", "content": content}]


def full_canvas(user: str, width: int = 640, height: int = 360) -> dict[str, Any]:
    """A user's camera filling the canvas, cropped to fit."""
    return {
        "type": 0,
        "left": 0,
        "top": 0,
        "width": width,
        "height": height,
        "keepAspectRatio": 2,
        "param": {"camid": f"{user}.-1"},
    }


CFG_360P15 = [
    {
        "id": "1",
        "streamTypes": 3,
        "cfg": {"width": 640, "height": 360, "frameRate": 15, "bitRate": 500000},
    }
]
LEFT_TILE = (0, 60, 320, 240)  # where a 4:3 camera lands in the left 320x360 half
RIGHT_TILE = (320, 60, 320, 240)
TIMESTAMP_RECT = (0, 0, 175, 32)


def file_output(name: str) -> list[dict[str, Any]]:
    return [{"id": "1", "output": [{"type": 0, "filename": name}]}]


async def record_for(
    who: Participant,
    cfgs: list[dict[str, Any]],
    contents: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    ms: int,
) -> EventLog:
    """Starts, waits until the outputs hold ``ms`` of media, stops; then leaves."""
    log = EventLog()
    log.attach(who)
    try:
        await who.start_svr_mixer(cfgs, contents, outputs)
        await log.wait_duration(ms)
        await who.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await who.leave()
    return log


async def record_briefly(base_url: str, room: str, filename: str, ms: int = 1500) -> None:
    """A real recording of one synthetic participant, ``ms`` long."""
    alice = await synthetic_participant(base_url, room, "alice", RED[0], RED[2])
    await record_for(alice, CFG_360P15, side_by_side("alice", "bob"), file_output(filename), ms)


@contextlib.asynccontextmanager
async def recording_in_progress(
    base_url: str,
    room: str,
    filename: str,
    contents: list[dict[str, Any]] | None = None,
    ms: int = 1000,
) -> AsyncIterator[tuple[Participant, EventLog]]:
    """Alice records ``filename`` in ``room`` (at least ``ms`` written before the
    body runs); afterwards the recording must still be running, and it is
    stopped with its file finished."""
    alice = await synthetic_participant(base_url, room, "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    try:
        layout = contents if contents is not None else side_by_side("alice", "bob")
        await alice.start_svr_mixer(CFG_360P15, layout, file_output(filename))
        await log.wait_output(filename, duration=ms)
        yield alice, log
        assert await alice.get_svr_mixer_state() == MixerState.RUNNING, "the recording went on"
        await alice.stop_svr_mixer()
        await log.wait_output(filename, state=int(OutputState.CLOSED))
    finally:
        await alice.leave()


async def serve_process(
    program: list[str], data_dir: Path, env: dict[str, str], **options: Any
) -> asyncio.subprocess.Process:
    """``program serve`` on a free loopback port, as an operator starts it; its
    first line of output is the banner with its address."""
    return await asyncio.create_subprocess_exec(
        *program, "--log-level", "ERROR", "serve", "--port", "0", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, env=env, **options,
    )  # fmt: skip


def write_media_file(path: Path) -> None:
    """A 4-second movie to share: a green picture and an 880 Hz tone."""
    out = FileOutput(
        "m",
        OutputSpec(OutputType.FILE, "/m.mp4", "mp4"),
        path,
        VideoCfg(320, 240, 15, 300_000, 26, 30),
        AV_AUDIO,
    )
    green = np.zeros((240, 320, 3), np.uint8)
    green[:, :, 1] = 220
    t = np.arange(48_000 * 4) / 48_000
    tone = (np.sin(2 * np.pi * 880 * t) * 0.25).astype(np.float32)
    for n in range(15 * 4):
        frame = av.VideoFrame.from_ndarray(green, format="bgr24")
        frame.pts = n
        out.write_video(frame)
    for k in range(len(tone) // TICK_SAMPLES):
        block = tone[k * TICK_SAMPLES : (k + 1) * TICK_SAMPLES]
        out.write_audio(to_frame(np.stack([block, block]), k * TICK_SAMPLES))
    out.close()


async def mixer_state(base_url: str, room: str) -> dict[str, Any]:
    """The room's mixer as the REST API answers it (its stats included)."""
    url = f"{base_url}/api/v1/rooms/{room}/mixer"
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.get(url) as resp:
        answer: dict[str, Any] = await resp.json()
        return answer
