"""The Python client: join a room, publish tracks to the room's recorder, and
drive the mixer with the SDK's calls in Python style.

    async with Participant(url, "demo", "alice", token) as alice:
        await alice.publish(video=ColorVideoTrack(...), audio=ToneAudioTrack(...))
        alice.on("svrMixerStateChanged", print)
        await alice.start_svr_mixer(cfgs, contents, outputs)

Mixer calls raise CloudrecError (with the SPEC code) where the SDK returns one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from cloudrec.errors import CloudrecError
from cloudrec.protocol import Message, SignalingClient
from cloudrec.synthetic import Scalable
from cloudrec.whiteboard import Board
from cloudrec.wire import MixerState

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], None]
NOT_RECORDING = {"active": False}


def ws_url(server: str) -> str:
    """Accepts http(s)://host:port or ws(s)://host:port[/ws]."""
    url = server.rstrip("/")
    if url.startswith("http"):
        url = "ws" + url[4:]
    return url if url.endswith("/ws") else url + "/ws"


def follow_presence(participants: list[dict[str, Any]], message: Message) -> list[dict[str, Any]]:
    """The participant list after one presence message: a join's later parts
    ("list"), or one participant who joined, left or changed tracks."""
    if message.get("event") == "list":
        return [*participants, *message.get("participants", [])]
    who = message.get("user") or {}
    if message.get("event") == "leave":
        return [p for p in participants if p.get("userID") != who.get("userID")]
    if any(p.get("userID") == who.get("userID") for p in participants):
        return [who if p.get("userID") == who.get("userID") else p for p in participants]
    return [*participants, who]


class Route(Protocol):
    """What a publisher's media goes through on its way to a recorder (an
    impairing relay, cloudrec/impair.py): it rewrites where each side is told
    the other is."""

    def offer(self, sdp: str) -> str: ...
    def answer(self, sdp: str) -> str: ...


class Participant:
    def __init__(
        self,
        server: str,
        room: str,
        user: str,
        token: str = "",
        *,
        follow_size_requests: bool = True,
        route: Route | None = None,
    ) -> None:
        self.room = room
        self._route = route
        self._follow_sizes = follow_size_requests
        self.user = user
        self._token = token
        self.participants: list[dict[str, Any]] = []
        # Whether the room is being recorded, by whom, since when (docs/protocol.md).
        self.recording: dict[str, Any] = dict(NOT_RECORDING)
        self._client = SignalingClient(ws_url(server))
        self._events: dict[str, list[EventHandler]] = {}
        self._sending: list[tuple[MediaStreamTrack, dict[str, Any]]] = []
        self._pcs: dict[str, RTCPeerConnection] = {}
        # Connections being closed, each in a task of its own that leave() waits
        # for: aiortc's close() fails (logging "Task exception was never
        # retrieved") when a task waiting on it is cancelled, as the tasks left
        # at an event loop's end are.
        self._closing: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.connected_to_recorder = asyncio.Event()
        self.board = Board()  # a replica of the room's whiteboard

    async def __aenter__(self) -> Participant:
        await self.join()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.leave()

    # -- room ---------------------------------------------------------------------

    async def join(self) -> None:
        self._client.on("event", self._on_event)
        self._client.on("presence", self._on_presence)
        self._client.on("signal", self._on_signal)
        self._client.on("wb", self._on_whiteboard)
        await self._client.connect()
        join: dict[str, Any] = {"type": "join", "room": self.room, "user": self.user}
        if self._token:
            join["token"] = self._token
        try:
            await self._client.request(join, on_reply=self._joined)
        except BaseException:
            await self._client.close()  # a refused join leaves nothing open
            raise

    def _joined(self, reply: Message) -> None:
        """The room as the join found it; parts that did not fit the reply follow."""
        self.participants = list(reply.get("participants", []))
        self.recording = dict(reply.get("recording") or NOT_RECORDING)
        self.board.load(reply.get("whiteboard") or {})

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.request({"type": "leave"}, timeout=5.0)
        await self._close_pcs()
        await self._client.close()

    def _close_soon(self, pc: RTCPeerConnection) -> asyncio.Task[None]:
        task = asyncio.ensure_future(pc.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    async def _close(self, pc: RTCPeerConnection) -> None:
        await asyncio.shield(self._close_soon(pc))

    async def publish(
        self,
        video: MediaStreamTrack | None = None,
        audio: MediaStreamTrack | None = None,
        cam_id: int = 0,
        screen: MediaStreamTrack | None = None,
        media: tuple[MediaStreamTrack | None, MediaStreamTrack | None] | None = None,
    ) -> None:
        """Announces what this participant sends (camera and microphone, a screen
        share, a shared file's video and sound) and sends it to the recorder
        whenever one is present. Calling it again replaces what is sent: a share
        starts or stops by renegotiating."""
        media_video, media_audio = media or (None, None)
        wanted: list[tuple[MediaStreamTrack | None, dict[str, Any]]] = [
            (video, {"kind": "video", "source": "camera", "camId": cam_id}),
            (audio, {"kind": "audio", "source": "mic"}),
            (screen, {"kind": "video", "source": "screen"}),
            (media_video, {"kind": "video", "source": "media"}),
            (media_audio, {"kind": "audio", "source": "media"}),
        ]
        self._sending = [(track, info) for track, info in wanted if track is not None]
        await self._client.request(
            {"type": "tracks", "tracks": [info for _, info in self._sending]}
        )
        for p in self.participants:
            if p.get("role") == "recorder":
                await self._offer_to(str(p["userID"]))

    async def whiteboard(self, op: dict[str, Any]) -> dict[str, Any]:
        """Draws on the room's board: ``{"op": "stroke", "stroke": {id, color,
        width, points}}``, ``{"op": "erase", "id"}``, ``{"op": "clear"}`` or
        ``{"op": "undo"}``; returns the effect, already applied to ``board``."""
        reply = await self._client.request({"type": "wb", **op})
        effect = {k: v for k, v in reply.items() if k not in ("type", "rid", "err", "message")}
        return self.board.replay(effect)

    # -- the SDK's mixer calls ------------------------------------------------------

    async def start_svr_mixer(
        self,
        cfgs: list[dict[str, Any]],
        contents: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
    ) -> None:
        await self._client.request(
            {"type": "startSvrMixer", "cfgs": cfgs, "contents": contents, "outputs": outputs}
        )

    async def update_svr_mixer_content(self, contents: list[dict[str, Any]]) -> None:
        await self._client.request({"type": "updateSvrMixerContent", "contents": contents})

    async def get_svr_mixer_state(self) -> MixerState:
        reply = await self._client.request({"type": "getSvrMixerState"})
        return MixerState(int(reply["state"]))

    async def stop_svr_mixer(self) -> None:
        await self._client.request({"type": "stopSvrMixer"}, timeout=60.0)

    async def pause_svr_mixer(self) -> None:
        """Nothing of the room is recorded until resumed (state 3, MIXER_PAUSED)."""
        await self._client.request({"type": "pauseSvrMixer"})

    async def resume_svr_mixer(self) -> None:
        """The files go on from where they paused, with no gap in their timelines."""
        await self._client.request({"type": "resumeSvrMixer"})

    def on(self, event: str, handler: EventHandler) -> None:
        self._events.setdefault(event, []).append(handler)

    def off(self, event: str, handler: EventHandler) -> None:
        handlers = self._events.get(event, [])
        if handler in handlers:
            handlers.remove(handler)

    # -- protocol -------------------------------------------------------------------

    def _on_whiteboard(self, message: Message) -> None:
        self.board.replay(message)

    def _on_event(self, message: Message) -> None:
        if message.get("name") == "recording":
            self.recording = dict(message.get("data") or NOT_RECORDING)
        for handler in list(self._events.get(str(message.get("name")), [])):
            handler(dict(message.get("data") or {}))

    async def _on_presence(self, message: Message) -> None:
        self.participants = follow_presence(self.participants, message)
        who = message.get("user") or {}
        if who.get("role") != "recorder":
            return
        if message.get("event") == "join":
            await self._offer_to(str(who["userID"]))
        elif message.get("event") == "leave":
            pc = self._pcs.pop(str(who["userID"]), None)
            self.connected_to_recorder.clear()
            if pc is not None:
                await self._close(pc)

    async def _offer_to(self, recorder: str) -> None:
        async with self._lock:
            old = self._pcs.pop(recorder, None)
            if old is not None:
                await self._close(old)
            self.connected_to_recorder.clear()
            if not self._sending:
                return
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self._pcs[recorder] = pc

            @pc.on("connectionstatechange")
            def _state() -> None:
                if pc.connectionState == "connected":
                    self.connected_to_recorder.set()

            meta: list[tuple[RTCRtpTransceiver, dict[str, Any]]] = [
                (pc.addTransceiver(track, direction="sendonly"), info)
                for track, info in self._sending
            ]
            await pc.setLocalDescription(await pc.createOffer())
            tracks = [{**info, "mid": t.mid} for t, info in meta]
            local = pc.localDescription
            if self._route is not None:
                local = RTCSessionDescription(self._route.offer(local.sdp), local.type)
            try:
                await self._client.request(
                    {
                        "type": "signal",
                        "to": recorder,
                        "data": {"sdp": {"type": local.type, "sdp": local.sdp}, "tracks": tracks},
                    }
                )
            except CloudrecError as exc:
                # A recorder on its way out (its leave may reach us after this
                # answer); the next recorder to join is offered to afresh.
                log.info("recorder %s did not take the offer: %s", recorder, exc.message)
                if self._pcs.get(recorder) is pc:
                    del self._pcs[recorder]
                await self._close(pc)

    async def _on_signal(self, message: Message) -> None:
        data = message.get("data") or {}
        sdp = data.get("sdp")
        pc = self._pcs.get(str(message.get("from")))
        if pc is not None and isinstance(sdp, dict) and sdp.get("type") == "answer":
            answer = str(sdp["sdp"])
            if self._route is not None:
                answer = self._route.answer(answer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        elif pc is not None and self._follow_sizes and isinstance(data.get("video"), list):
            await _fit_senders(pc, data["video"])

    async def _close_pcs(self) -> None:
        pcs, self._pcs = list(self._pcs.values()), {}
        for pc in pcs:
            self._close_soon(pc)
        await asyncio.gather(*self._closing, return_exceptions=True)


async def _fit_senders(pc: RTCPeerConnection, video: list[Any]) -> None:
    """A recorder's size request (docs/protocol.md): each listed video that can
    be sent smaller is; the others go on as they are (aiortc has no
    scaleResolutionDownBy of its own)."""
    senders = {t.mid: t.sender.track for t in pc.getTransceivers()}
    for entry in video:
        if not isinstance(entry, dict):
            continue
        track = senders.get(str(entry.get("mid")))
        width, height = entry.get("width"), entry.get("height")
        box = (width, height) if isinstance(width, int) and isinstance(height, int) else None
        if isinstance(track, Scalable) and (box is None or min(box) > 0):
            await track.fit(box)
