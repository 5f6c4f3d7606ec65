"""The recording bot: an ordinary peer of the room (role ``recorder``) that
receives every publisher's tracks over aiortc and runs the mixer session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

import aiohttp

from cloudrec.config import Config
from cloudrec.contract import (
    SERVER_MESSAGE_TYPES,
    MixerStats,
    OutputInfo,
    PauseMixer,
    RecordingEnded,
    ResumeMixer,
    StartMixer,
    StopMixer,
    TrackMeta,
    UpdateMixer,
    server_message,
)
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.ids import recorder_user
from cloudrec.protocol import Message, SignalingClient
from cloudrec.sources import SoundId
from cloudrec.storage.objects import ObjectStore, StoreConfig
from cloudrec.storage.resources import ResourceStore
from cloudrec.whiteboard import Board
from cloudrec.wire import ContentType, MixerContents, StartRequest, is_file_output
from compositor.picture import Picture, load_picture
from compositor.planes import I420
from recorder.audio import AudioStream
from recorder.demand import shown_boxes, size_requests
from recorder.publisher import Publisher
from recorder.receive import BatchedReceiveLoop
from recorder.session import RecordingSession
from recorder.tracks import TrackRegistry
from recorder.uploads import BotUploads

log = logging.getLogger(__name__)

# How soon a publisher hears that its video is shown larger or smaller (a layout
# update, a share taking over); one check costs microseconds.
ASK_PERIOD_S = 0.5
# How often a bot cut off from its control node tries to join again.
REJOIN_RETRY_S = 0.5


class RecorderBot:
    def __init__(
        self, ws_url: str, room: str, config: Config, key: str, reconnect_s: float = 0.0
    ) -> None:
        self.room = room
        self._key = key  # the job's credential
        self._reconnect_s = reconnect_s
        self.user = recorder_user(room)
        self._config = config
        self._ws_url = ws_url
        # The server sends nothing over the limit it holds us to.
        self._client = SignalingClient(ws_url, config.max_message_bytes)
        self._registry = TrackRegistry()
        self._publishers: dict[str, Publisher] = {}
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._session: RecordingSession | None = None
        self._board = Board()  # a replica of the room's whiteboard
        self._resources = ResourceStore(config.resources_dir)
        self._leave = asyncio.Event()
        self._request: StartRequest | None = None
        store = StoreConfig.of(config)
        self._store = ObjectStore(store) if store else None
        self._uploads = (
            BotUploads(self._store, config.recordings_dir, config.keep_local, self._post_info)
            if self._store
            else None
        )

    async def run(self) -> None:
        """Joins, serves the session until told to leave (or cut off for good),
        cleans up."""
        if self._store is not None:
            await self._store.open()
        await self._join()
        sender = asyncio.create_task(self._send_loop())
        asker = asyncio.create_task(self._ask_loop())
        try:
            while True:
                closed = asyncio.create_task(self._client.closed.wait())
                leave = asyncio.create_task(self._leave.wait())
                await asyncio.wait({closed, leave}, return_when=asyncio.FIRST_COMPLETED)
                closed.cancel()
                leave.cancel()
                if self._leave.is_set() or not await self._rejoin():
                    break
        finally:
            await self._stop_session()
            if self._store is not None:
                await self._store.close()
            asker.cancel()
            await self._outbox.join()
            sender.cancel()
            for task in (asker, sender):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._close_peers()
            await self._client.close()

    async def _join(self) -> None:
        """Dials the control node and joins the room as its recorder."""
        client = SignalingClient(self._ws_url, self._config.max_message_bytes)
        client.on("signal", self._on_signal)
        client.on("presence", self._on_presence)
        for kind in SERVER_MESSAGE_TYPES:
            client.on(kind, self._on_server)
        client.on("wb", self._on_whiteboard)
        await client.connect()
        try:
            await client.request(
                {
                    "type": "join",
                    "room": self.room,
                    "user": self.user,
                    "role": "recorder",
                    "key": self._key,
                },
                on_reply=lambda joined: self._board.load(joined.get("whiteboard") or {}),
            )
        except BaseException:
            await client.close()
            raise
        self._client = client

    async def _rejoin(self) -> bool:
        """Cut off from the control node: a cluster's bot records on (the
        publishers' media does not pass through it) and joins again once a
        control node that knows its job answers; alone, it stops."""
        if self._reconnect_s <= 0:
            return False
        await self._client.close()
        log.warning("bot %s: cut off from the control node; recording on", self.user)
        deadline = asyncio.get_running_loop().time() + self._reconnect_s
        while asyncio.get_running_loop().time() < deadline and not self._leave.is_set():
            await asyncio.sleep(REJOIN_RETRY_S)
            try:
                await self._join()
            except (CloudrecError, OSError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("bot %s: not rejoined yet: %s", self.user, exc)
                continue
            log.info("bot %s: rejoined the room", self.user)
            return True
        log.error(
            "bot %s: no control node took it back within %.0f s", self.user, self._reconnect_s
        )
        return False

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

    def _post_info(self, info: OutputInfo) -> None:
        self._post(info.to_wire())

    def _emit_info(self, info: OutputInfo) -> None:
        if self._uploads is None or self._request is None:
            self._post_info(info)
        else:
            self._uploads.on_info(info, is_file_output(self._request, info.file_name))

    def _post_stats(self, stats: MixerStats) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(loop, BatchedReceiveLoop):  # in a bot process of its own
            stats = replace(stats, packets_received=loop.datagrams_received)
        if self._uploads is not None:
            counters = self._uploads.counters
            stats = replace(
                stats,
                upload_bytes=counters.bytes,
                upload_retries=counters.retries,
                upload_failures=counters.failures,
            )
        self._post(stats.to_wire())

    async def _stop_session(self) -> None:
        """Every output finalised and, with a store, gone up (or given up on);
        then the final counters, before the answer."""
        if self._session is not None:
            await self._session.stop()
        if self._uploads is not None:
            await self._uploads.drain()
        if self._session is not None:
            self._post_stats(self._session.stats())

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
                await self._stop_session()
            elif isinstance(request, PauseMixer | ResumeMixer):
                self._pause(isinstance(request, PauseMixer))
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
        self._request = start.request
        self._session = RecordingSession.begin(
            start.request,
            pictures,
            self._config,
            self._registry,
            self._sounds,
            self._emit_info,
            self._ask_to_end,
            self._board,
            on_stats=self._post_stats,
            paused=start.paused,
        )

    async def _update(self, update: UpdateMixer) -> None:
        if self._session is None:
            raise CloudrecError(ErrorCode.PARAM_ERR, "nothing is being recorded")
        pictures = await asyncio.to_thread(self._pictures, update.contents)
        self._session.update(update.contents, pictures)

    def _pause(self, pause: bool) -> None:
        if self._session is None:
            raise CloudrecError(ErrorCode.PARAM_ERR, "nothing is being recorded")
        if self._session.pauses.paused == pause:
            said = "paused already" if pause else "not paused"
            raise CloudrecError(ErrorCode.PARAM_ERR, f"the recording is {said}")
        if pause:
            self._session.pause()
        else:
            self._session.resume()

    async def _ask_loop(self) -> None:
        while True:
            self._ask_sizes()
            await asyncio.sleep(ASK_PERIOD_S)

    def _ask_sizes(self) -> None:
        """Tells each publisher whose shown sizes changed (recorder/demand.py)."""
        if self._session is None:
            return
        boxes = shown_boxes(self._session.layouts(), self._registry.key_of)
        videos = {}
        for publisher in self._publishers.values():
            publisher.show(boxes)
            videos.update({s: (publisher.user, mid) for s, mid in publisher.videos.items()})
        for user, video in size_requests(boxes, videos).items():
            publisher = self._publishers[user]
            if publisher.asked != video:
                publisher.asked = video
                self._post({"type": "signal", "to": user, "data": {"video": video}})

    def _sounds(self) -> dict[SoundId, AudioStream]:
        """Every sound received now, for the session's audio clock."""
        return {s: b for p in self._publishers.values() for s, b in p.sounds.items()}

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
        if isinstance(sdp, dict) and sdp.get("type") == "offer":
            publisher = self._publishers.get(user)
            if publisher is None:
                publisher = self._publishers[user] = Publisher(
                    user, self._registry, self._config.estimate_bandwidth
                )
            preview = bool(data.get("preview"))
            if preview:
                local = await publisher.answer_preview(
                    str(sdp.get("sdp", "")), self._preview_canvas
                )
            else:
                # What the m-lines carry was checked by the server on the way.
                tracks = [TrackMeta.from_wire(t) for t in data.get("tracks") or []]
                local = await publisher.answer(str(sdp.get("sdp", "")), tracks)
            # An answer names the offer it answers, so the publisher drops stale ones.
            answer: Message = {
                "offer": data.get("offer"),
                "sdp": {"type": local.type, "sdp": local.sdp},
            }
            if preview:
                answer["preview"] = True
            self._post({"type": "signal", "to": user, "data": answer})
        elif isinstance(data.get("candidate"), dict) and user in self._publishers:
            await self._publishers[user].add_candidate(data["candidate"])

    def _preview_canvas(self) -> I420 | None:
        return self._session.preview_canvas() if self._session is not None else None

    async def _on_presence(self, message: Message) -> None:
        if message.get("event") != "leave":
            return
        user = str((message.get("user") or {}).get("userID", ""))
        publisher = self._publishers.pop(user, None)
        if publisher is not None:
            await publisher.close()

    async def _close_peers(self) -> None:
        publishers, self._publishers = list(self._publishers.values()), {}
        await asyncio.gather(*(p.close() for p in publishers), return_exceptions=True)
