"""The recording bot: an ordinary peer of the room (role ``recorder``) that
receives every publisher's tracks over aiortc and runs the mixer session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from cloudrec.config import Config
from cloudrec.contract import (
    SERVER_MESSAGE_TYPES,
    OutputInfo,
    RecordingEnded,
    StartMixer,
    StopMixer,
    TrackMeta,
    UpdateMixer,
    server_message,
)
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.ids import recorder_user
from cloudrec.protocol import Message, SignalingClient
from cloudrec.sources import SHARE_KINDS, SoundId, SourceId
from cloudrec.storage.resources import ResourceStore
from cloudrec.whiteboard import Board
from cloudrec.wire import ContentType, MixerContents
from compositor.picture import Picture, load_picture
from compositor.planes import I420
from recorder.arrival import ArrivalClock
from recorder.audio import AudioBuffer
from recorder.demand import shown_boxes, size_requests
from recorder.ingest import Sink, drain, tap_receiver
from recorder.preview import PreviewTrack
from recorder.session import RecordingSession
from recorder.tracks import CameraSlot, TrackRegistry

log = logging.getLogger(__name__)

# How soon a publisher hears that its video is shown larger or smaller (a layout
# update, a share taking over); one check costs microseconds.
ASK_PERIOD_S = 0.5


def _rtc_configuration() -> RTCConfiguration:
    """No ICE servers (media stays on the host's own addresses); max-bundle,
    because aiortc's default ('balanced') strands a second video m-line on a
    transport it discards when a browser bundles everything onto its first,
    audio, m-line: a browser's screen share would never be received."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class RecorderBot:
    def __init__(self, ws_url: str, room: str, config: Config) -> None:
        self.room = room
        self.user = recorder_user(room)
        self._config = config
        # The server sends nothing over the limit it holds us to.
        self._client = SignalingClient(ws_url, config.max_message_bytes)
        self._registry = TrackRegistry()
        self._audio: dict[SoundId, AudioBuffer] = {}
        self._pcs: dict[str, RTCPeerConnection] = {}
        self._previews: dict[str, RTCPeerConnection] = {}
        self._track_meta: dict[str, dict[str | None, TrackMeta]] = {}
        # Each received video by source: its publisher, m-line and slot.
        self._videos: dict[SourceId, tuple[str, str, CameraSlot]] = {}
        self._asked: dict[str, list[dict[str, Any]]] = {}  # the last size request per user
        self._readers: set[asyncio.Task[None]] = set()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._session: RecordingSession | None = None
        self._board = Board()  # a replica of the room's whiteboard
        self._resources = ResourceStore(config.resources_dir)
        self._leave = asyncio.Event()

    async def run(self) -> None:
        """Joins, serves the session until told to leave (or cut off), cleans up."""
        client = self._client
        client.on("signal", self._on_signal)
        client.on("presence", self._on_presence)
        for kind in SERVER_MESSAGE_TYPES:
            client.on(kind, self._on_server)
        client.on("wb", self._on_whiteboard)
        await client.connect()
        sender = asyncio.create_task(self._send_loop())
        asker = asyncio.create_task(self._ask_loop())
        try:
            await client.request(
                {
                    "type": "join",
                    "room": self.room,
                    "user": self.user,
                    "role": "recorder",
                    "key": self._config.bot_key,
                },
                on_reply=lambda joined: self._board.load(joined.get("whiteboard") or {}),
            )
            closed = asyncio.create_task(client.closed.wait())
            leave = asyncio.create_task(self._leave.wait())
            await asyncio.wait({closed, leave}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            leave.cancel()
        finally:
            if self._session is not None:
                await self._session.stop()
            asker.cancel()
            await self._outbox.join()
            sender.cancel()
            for task in (asker, sender):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._close_peers()
            await client.close()

    # -- outbound: one queue keeps output info ahead of the reply that follows it

    def _post(self, message: Message) -> None:
        self._outbox.put_nowait(message)

    async def _send_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self._client.send(message)
            except (CloudrecError, ConnectionError) as exc:
                log.warning("bot %s could not send %s: %s", self.user, message.get("type"), exc)
            finally:
                self._outbox.task_done()

    def _reply(self, request: Message, err: int = 0, message: str = "") -> None:
        self._post({"type": "reply", "rid": request.get("rid"), "err": err, "message": message})

    def _emit_info(self, info: OutputInfo) -> None:
        self._post(info.to_wire())

    # -- mixer requests from the server -----------------------------------------

    async def _on_server(self, message: Message) -> None:
        """The server's requests, answered in turn (docs/protocol.md)."""
        request = server_message(message)
        try:
            if isinstance(request, StartMixer):
                await self._start(request)
            elif isinstance(request, UpdateMixer):
                await self._update(request)
            elif isinstance(request, StopMixer):
                if self._session is not None:
                    await self._session.stop()
            else:
                self._leave.set()
                return
            self._reply(message)
        except CloudrecError as exc:
            self._reply(message, int(exc.code), exc.message)

    async def _start(self, start: StartMixer) -> None:
        if self._session is not None:
            raise CloudrecError(ErrorCode.RECORDSTARTED, "this bot is recording already")
        pictures = await asyncio.to_thread(self._pictures, start.request.contents)
        self._session = RecordingSession.begin(
            start.request,
            pictures,
            self._config,
            self._registry,
            self._audio,
            self._emit_info,
            self._ask_to_end,
            self._board,
            on_stats=lambda stats: self._post(stats.to_wire()),
        )

    async def _update(self, update: UpdateMixer) -> None:
        if self._session is None:
            raise CloudrecError(ErrorCode.PARAM_ERR, "nothing is being recorded")
        pictures = await asyncio.to_thread(self._pictures, update.contents)
        self._session.update(update.contents, pictures)

    async def _ask_loop(self) -> None:
        while True:
            self._ask_sizes()
            await asyncio.sleep(ASK_PERIOD_S)

    def _ask_sizes(self) -> None:
        """Tells each publisher whose shown sizes changed (recorder/demand.py)."""
        if self._session is None:
            return
        boxes = shown_boxes(self._session.layouts(), self._registry.key_of)
        for key, (_, _, slot) in self._videos.items():
            slot.shown = key in boxes
        videos = {key: (user, mid) for key, (user, mid, _) in self._videos.items()}
        for user, video in size_requests(boxes, videos).items():
            if self._asked.get(user) != video:
                self._asked[user] = video
                self._post({"type": "signal", "to": user, "data": {"video": video}})

    def _pictures(self, contents: tuple[MixerContents, ...]) -> dict[str, Picture]:
        """The registered images the layouts show (the server checked they exist);
        decodes files, so it runs on a worker thread."""
        found: dict[str, Picture] = {}
        for mixer in contents:
            for content in mixer.content:
                resource_id = content.param.get("resourceid", "")
                if content.type is ContentType.PIC and resource_id not in found:
                    path = self._resources.path(resource_id, self.room)
                    if path is not None:
                        found[resource_id] = load_picture(path)
        return found

    def _ask_to_end(self, code: ErrorCode) -> None:
        self._post(RecordingEnded(code).to_wire())

    def _on_whiteboard(self, message: Message) -> None:
        try:
            self._board.replay(message)
        except CloudrecError as exc:  # the server checked it; a bad relay is a bug
            log.error("bot %s could not follow the whiteboard: %s", self.user, exc.message)

    # -- WebRTC ingest ----------------------------------------------------------

    async def _on_signal(self, message: Message) -> None:
        user = str(message.get("from"))
        data = message.get("data") or {}
        sdp = data.get("sdp")
        # An answer names the offer it answers, so the publisher drops stale ones.
        offer = data.get("offer")
        if isinstance(sdp, dict) and sdp.get("type") == "offer" and data.get("preview"):
            await self._answer_preview(user, str(sdp.get("sdp", "")), offer)
        elif isinstance(sdp, dict) and sdp.get("type") == "offer":
            await self._answer(user, str(sdp.get("sdp", "")), data.get("tracks") or [], offer)
        elif isinstance(data.get("candidate"), dict) and user in self._pcs:
            cand = data["candidate"]
            if cand.get("candidate"):
                candidate = candidate_from_sdp(str(cand["candidate"]).removeprefix("candidate:"))
                candidate.sdpMid = cand.get("sdpMid")
                candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
                await self._pcs[user].addIceCandidate(candidate)

    async def _answer(
        self, user: str, sdp: str, tracks: list[dict[str, Any]], offer: Any = None
    ) -> None:
        # Checked by the server on the way (signaling/ws.py): trusted here.
        self._track_meta[user] = {m.mid: m for m in map(TrackMeta.from_wire, tracks)}
        self._asked.pop(user, None)  # a new connection's senders start unconstrained
        # Publishers offer afresh when what they send changes (a share starts or
        # stops): the new connection replaces the old, whose tracks end.
        old = self._pcs.pop(user, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(_rtc_configuration())
        self._pcs[user] = pc
        pc.on("track", lambda track, u=user, p=pc: self._on_track(u, p, track))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        local = pc.localDescription
        self._post(
            {
                "type": "signal",
                "to": user,
                "data": {"offer": offer, "sdp": {"type": local.type, "sdp": local.sdp}},
            }
        )

    async def _answer_preview(self, user: str, sdp: str, offer: Any = None) -> None:
        """Sends the mix back to a viewer who offered to receive it."""
        old = self._previews.pop(user, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(_rtc_configuration())
        self._previews[user] = pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        pc.addTrack(PreviewTrack(self._preview_canvas))
        await pc.setLocalDescription(await pc.createAnswer())
        local = pc.localDescription
        self._post(
            {
                "type": "signal",
                "to": user,
                "data": {
                    "preview": True,
                    "offer": offer,
                    "sdp": {"type": local.type, "sdp": local.sdp},
                },
            }
        )

    def _preview_canvas(self) -> I420 | None:
        return self._session.preview_canvas() if self._session is not None else None

    def _on_track(self, user: str, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        """Called while the offer is applied, before the receiver starts: the
        place to route its frames (see recorder/ingest.py)."""
        transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
        mid = transceiver.mid if transceiver is not None else None
        meta = self._track_meta.get(user, {}).get(mid)
        said = meta.source if meta is not None else None
        wanted = None
        if track.kind == "video":
            cam = meta.cam_id if meta is not None and meta.cam_id is not None else 0
            source = (
                SourceId.share(user, said) if said in SHARE_KINDS else SourceId.camera(user, cam)
            )
            slot = self._registry.add(source)
            if mid is not None:
                self._videos[source] = (user, mid, slot)
            sink: Sink = _video_sink(slot)
            wanted = partial(getattr, slot, "shown")  # read before each frame is decoded
            follow = self._follow_video(source, slot, track, sink)
            name = str(source)
        else:
            sound = SoundId(user, shared_file=said == "media")
            buffer = self._audio[sound] = AudioBuffer()
            sink = buffer.push
            follow = self._follow_audio(sound, buffer, track)
            name = str(sound)
        if transceiver is not None:
            tap_receiver(transceiver.receiver, name, sink, wanted)
        task = asyncio.create_task(follow)
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _follow_video(
        self, source: SourceId, slot: CameraSlot, track: MediaStreamTrack, sink: Sink
    ) -> None:
        await drain(track, sink)
        self._registry.ended(source)
        # A re-offer's track may have taken the source before this one ended.
        if source in self._videos and self._videos[source][2] is slot:
            del self._videos[source]

    async def _follow_audio(
        self, key: SoundId, buffer: AudioBuffer, track: MediaStreamTrack
    ) -> None:
        await drain(track, buffer.push)
        if self._audio.get(key) is buffer:
            del self._audio[key]

    async def _on_presence(self, message: Message) -> None:
        if message.get("event") != "leave":
            return
        user = str((message.get("user") or {}).get("userID", ""))
        self._registry.user_left(user)
        self._audio.pop(SoundId(user), None)
        self._audio.pop(SoundId(user, shared_file=True), None)
        self._track_meta.pop(user, None)
        self._asked.pop(user, None)
        self._videos = {k: v for k, v in self._videos.items() if v[0] != user}
        for pcs in (self._pcs, self._previews):
            pc = pcs.pop(user, None)
            if pc is not None:
                await pc.close()

    async def _close_peers(self) -> None:
        pcs = [*self._pcs.values(), *self._previews.values()]
        self._pcs, self._previews = {}, {}
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


def _video_sink(slot: CameraSlot) -> Sink:
    clock = ArrivalClock()

    def store(frame: av.VideoFrame) -> None:
        now = time.monotonic()
        # Shown by when it arrived, not when its batch was handled (recorder/arrival.py).
        slot.push(clock.arrival(frame.pts, now) if frame.pts is not None else now, frame)

    return store
