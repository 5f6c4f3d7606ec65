"""The room's svrMixer session as the server sees it: the state machine, the
calls that move it, and the latest output info, for every caller (WebSocket or
REST). The recording itself happens in the bot, reached through the protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cloudrec.auth import recorder_key, same
from cloudrec.cluster.cost import job_cores
from cloudrec.config import Config
from cloudrec.contract import (
    LeaveRoom,
    MixerStats,
    OutputInfo,
    PauseMixer,
    ResumeMixer,
    RunningRecording,
    StartMixer,
    StopMixer,
    UpdateMixer,
    bot_message,
)
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.resources import ResourceStore
from cloudrec.wire import (
    MixerState,
    OutputState,
    OutputType,
    StartRequest,
    parse_contents,
    parse_start,
    part_of,
)
from signaling.metrics import ControlMetrics
from signaling.recordings import Recordings, stream_of
from signaling.resources_api import check_pictures
from signaling.room_mixer import RECORDING, TRANSITIONS, RoomMixer
from signaling.rooms import Peer, Room, RoomRegistry

log = logging.getLogger(__name__)

BOT_JOIN_TIMEOUT_S = 10.0
BOT_STOP_TIMEOUT_S = 30.0
# A recording whose worker is lost is placed again for this long (a worker
# that fits may be starting); past it, it ends with error 8.
FAILOVER_WINDOW_S = 8.0
FAILOVER_RETRY_S = 0.5
# How often a control node checks the heartbeats of the workers it uses.
WATCH_S = 1.0
# A control node that starts while recordings run waits this long for their
# bots to join it again (they try every half second).
TAKE_BACK_S = 15.0


class BotLauncher(Protocol):
    """Starts a recording bot that joins ``room`` through the signaling protocol
    with the credential of ``job_id``, and says on which worker ("" for this
    machine); ``avoid`` names a worker not to choose if any other fits."""

    def launch(self, room: str, job_id: str, cost: float, avoid: str = "") -> Awaitable[str]: ...

    def alive(self, worker: str) -> Awaitable[bool]: ...


class Ledger(Protocol):
    """Where a cluster keeps what records where, outliving any control node."""

    def remember(self, room: str, running: RunningRecording) -> Awaitable[None]: ...

    def forget(self, room: str) -> Awaitable[None]: ...

    def remembered(self) -> Awaitable[dict[str, RunningRecording]]: ...


Broadcast = Callable[[str, dict[str, Any]], Awaitable[None]]


class MixerControl:
    def __init__(
        self,
        config: Config,
        rooms: RoomRegistry,
        launcher: BotLauncher,
        recordings: Recordings,
        resources: ResourceStore,
        metrics: ControlMetrics | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.metrics = metrics or ControlMetrics()
        self._ledger = ledger
        self._closing = False
        self._resources = resources
        self._config = config
        self._rooms = rooms
        self._launcher = launcher
        self._recordings = recordings
        self._mixers: dict[str, RoomMixer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._drop: Callable[[Peer], Awaitable[None]] = self._left_unseen

    def on_drop(self, drop: Callable[[Peer], Awaitable[None]]) -> None:
        """How a peer taken for gone is made to leave its room (the signaling
        endpoint's: presence is told, its connection closed behind it)."""
        self._drop = drop

    async def _left_unseen(self, peer: Peer) -> None:
        if peer.room is not None:
            await self.recorder_left(peer, peer.room.name)

    def watch_workers(self) -> None:
        """In a cluster: a worker whose heartbeat lapses has lost its bots, even
        when their connections have not closed (a machine gone)."""
        self._watcher = asyncio.create_task(self._watch())

    async def close(self) -> None:
        """Alone, stops every recording (outputs finalised); in a cluster, leaves
        them recording on their workers, for the next control node to take
        back. Then waits for our own tasks."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._ledger is None:
            for room in list(self._mixers):
                await self.stop(room, "server")
        else:
            for task in self._tasks:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what a cluster remembers ------------------------------------------------

    async def _remember(self, mixer: RoomMixer) -> None:
        if self._ledger is None or mixer.request is None:
            return
        try:
            await self._ledger.remember(mixer.room, mixer.running())
        except Exception as exc:  # Redis away: the recording goes on regardless
            log.warning("room %s: not remembered in Redis: %s", mixer.room, exc)

    async def _forget(self, room: str) -> None:
        if self._ledger is None:
            return
        try:
            await self._ledger.forget(room)
        except Exception as exc:
            log.warning("room %s: not forgotten in Redis: %s", room, exc)

    async def take_back(self) -> list[str]:
        """At start in a cluster: the recordings running on workers become this
        node's again, each once its bot has joined; the rooms."""
        if self._ledger is None:
            return []
        remembered = await self._ledger.remembered()
        for room, running in remembered.items():
            mixer = self._mixer(room)
            mixer.take_back(running)
            task = asyncio.create_task(self._await_return(mixer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return list(remembered)

    async def _await_return(self, mixer: RoomMixer) -> None:
        assert mixer.bot_joined is not None
        try:
            bot = await asyncio.wait_for(asyncio.shield(mixer.bot_joined), TAKE_BACK_S)
        except TimeoutError:
            log.error("room %s: its bot on worker %s did not come back", mixer.room, mixer.worker)
            async with mixer.lock:
                if mixer.bot is None and mixer.state in RECORDING:
                    await self._end(mixer, int(ErrorCode.SERVER_EXCEPTION), "server")
            return
        mixer.bot = bot
        log.info("room %s: recording on worker %s taken back", mixer.room, mixer.worker)

    def _mixer(self, room: str) -> RoomMixer:
        mixer = self._mixers.get(room)
        if mixer is None:
            mixer = self._mixers[room] = RoomMixer(room)
        return mixer

    def running_sessions(self) -> int:
        return sum(1 for m in self._mixers.values() if m.state is not MixerState.NULL)

    # -- events ----------------------------------------------------------------

    async def _emit(self, room: str, name: str, data: dict[str, Any]) -> None:
        target = self._rooms.get(room)
        if target is not None:
            await target.broadcast(
                {"type": "event", "name": name, "data": data}, role="participant"
            )

    async def _move(self, mixer: RoomMixer, state: MixerState, err: int, operator: str) -> None:
        if state not in TRANSITIONS[mixer.state]:
            raise RuntimeError(f"mixer of room {mixer.room}: {mixer.state.name} -> {state.name}")
        was_recording = mixer.recording()
        if mixer.state is MixerState.STARTING and state is MixerState.RUNNING:
            mixer.started_by, mixer.started_at = operator, time.time()
        mixer.state = state
        changed = {"state": int(state), "err": err, "operatorID": operator}
        await self._emit(mixer.room, "svrMixerStateChanged", changed)
        held, mixer.held = mixer.held, []
        if state is MixerState.RUNNING:
            for info in held:
                await self._emit(mixer.room, "svrMixerOutputInfo", info.event())
        self._tell(mixer, "recording.stateChanged", changed)
        if mixer.recording() != was_recording:
            # Everyone in the room has a right to know they are recorded.
            await self._emit(mixer.room, "recording", mixer.recording())

    def _tell(self, mixer: RoomMixer, kind: str, data: dict[str, Any]) -> None:
        """A webhook event of the room's recording."""
        about = {"room": mixer.room, "session": mixer.session, "part": mixer.part}
        self._recordings.webhook.event(kind, stream_of(mixer.room, mixer.session), about | data)

    # -- calls -----------------------------------------------------------------

    def recording(self, room: str) -> dict[str, Any]:
        mixer = self._mixers.get(room)
        return mixer.recording() if mixer else {"active": False}

    def worker(self, room: str) -> str | None:
        """The worker the room's bot runs on; None when none does, or it runs here."""
        mixer = self._mixers.get(room)
        return mixer.worker or None if mixer and mixer.state is not MixerState.NULL else None

    def get_state(self, room: str) -> MixerState:
        mixer = self._mixers.get(room)
        return mixer.state if mixer else MixerState.NULL

    def stats(self, room: str) -> dict[str, Any]:
        """The bot's latest counters, as getSvrMixerState answers them."""
        mixer = self._mixers.get(room)
        return mixer.stats.counters() if mixer and mixer.stats else {}

    def output_infos(self, room: str) -> list[dict[str, Any]]:
        """The latest info of each output, as svrMixerOutputInfo carries it."""
        mixer = self._mixers.get(room)
        return [info.event() for info in mixer.outputs.values()] if mixer else []

    async def start(self, room: str, operator: str, body: dict[str, Any]) -> None:
        mixer = self._mixer(room)
        async with mixer.lock:
            if mixer.state is not MixerState.NULL:
                raise CloudrecError(ErrorCode.RECORDSTARTED, f"room '{room}' is already recording")
            request = parse_start(
                body.get("cfgs"), body.get("contents"), body.get("outputs"), self._config.limits
            )
            if self._rooms.get(room) is None:
                raise CloudrecError(ErrorCode.ROOM_NOT_EXIST, f"room '{room}' does not exist")
            self._recordings.before_start(request)
            check_pictures(request.contents, self._resources, room)
            # A cluster's capacity is its workers': placement says when it is full.
            if not self._config.redis and self.running_sessions() >= self._config.max_sessions:
                raise CloudrecError(
                    ErrorCode.NOMORE_MCU,
                    f"all {self._config.max_sessions} recorders of this server are busy",
                )
            mixer.outputs = {}
            mixer.stats = None
            mixer.request = request
            mixer.session, mixer.part = secrets.token_hex(8), 1
            await self._move(mixer, MixerState.STARTING, 0, operator)
            try:
                bot = await self._bring_bot(mixer)
                await bot.request(StartMixer(request).to_wire())
            # Whatever goes wrong (the bot refuses, vanishes, a bug), the room
            # can record again and says why; its slot is freed.
            except CloudrecError as exc:
                await self._end(mixer, int(exc.code), operator)
                raise
            except asyncio.CancelledError:
                await self._end(mixer, int(ErrorCode.SERVER_EXCEPTION), operator)
                raise
            except Exception as exc:
                log.exception("room %s: the hand-off to the recorder failed", room)
                await self._end(mixer, int(ErrorCode.SERVER_EXCEPTION), operator)
                raise CloudrecError(
                    ErrorCode.SERVER_EXCEPTION, "the recorder could not start"
                ) from exc
            await self._move(mixer, MixerState.RUNNING, 0, operator)
            await self._remember(mixer)
            self._tell(mixer, "recording.started", {"operatorID": operator, **_files(request)})
            log.info("room %s: recording started by %s", room, operator)

    async def update(self, room: str, operator: str, body: dict[str, Any]) -> None:
        mixer = self._mixers.get(room)
        if (
            mixer is None
            or mixer.state not in RECORDING
            or mixer.bot is None
            or mixer.request is None
        ):
            raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room}' is not recording")
        contents = parse_contents(body.get("contents"), mixer.request.cfgs, self._config.limits)
        check_pictures(contents, self._resources, room)
        async with mixer.lock:
            if mixer.state not in RECORDING or mixer.bot is None:
                raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room}' is not recording")
            await mixer.bot.request(UpdateMixer(contents).to_wire())
            if mixer.request is not None:  # a part that follows records this layout
                mixer.request = StartRequest(mixer.request.cfgs, contents, mixer.request.outputs)
                await self._remember(mixer)
        await self._emit(room, "svrMixerCfgChanged", {})

    async def pause(self, room: str, operator: str) -> None:
        """RUNNING -> PAUSED: nothing of the room reaches a file until resumed."""
        await self._pause_or_resume(room, operator, MixerState.RUNNING, MixerState.PAUSED)

    async def resume(self, room: str, operator: str) -> None:
        """PAUSED -> RUNNING: the files go on from where they paused."""
        await self._pause_or_resume(room, operator, MixerState.PAUSED, MixerState.RUNNING)

    async def _pause_or_resume(
        self, room: str, operator: str, was: MixerState, to: MixerState
    ) -> None:
        mixer = self._mixers.get(room)
        if mixer is None:
            raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room}' is not recording")
        async with mixer.lock:
            if mixer.state is to:
                said = to.name.lower()
                raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room}' is {said} already")
            if mixer.state is not was:
                raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room}' is not recording")
            if mixer.bot is None:  # a control node taking it back, its bot on its way
                raise CloudrecError(
                    ErrorCode.SERVER_EXCEPTION, f"the recorder of room '{room}' is reconnecting"
                )
            message = PauseMixer() if to is MixerState.PAUSED else ResumeMixer()
            await mixer.bot.request(message.to_wire())
            await self._move(mixer, to, 0, operator)
            await self._remember(mixer)
            log.info("room %s: recording %s by %s", room, to.name.lower(), operator)

    async def stop(self, room: str, operator: str, err: int = 0) -> None:
        """Idempotent: stopping a room that is not recording does nothing."""
        mixer = self._mixers.get(room)
        if mixer is None:
            return
        async with mixer.lock:
            if mixer.state not in RECORDING:
                return
            await self._move(mixer, MixerState.STOPPING, 0, operator)
            log.info("room %s: recording stopping (by %s)", room, operator)
            clean = False
            try:
                if mixer.bot is not None:
                    await mixer.bot.request(StopMixer().to_wire(), timeout=BOT_STOP_TIMEOUT_S)
                    clean = True
            except CloudrecError as exc:
                log.warning("room %s: the bot failed to stop cleanly: %s", room, exc.message)
                err = err or int(exc.code)
            finally:
                # A bot that stopped cleanly reported every file closed first.
                await self._end(mixer, err, operator, settle=not clean)
                log.info("room %s: recording stopped", room)

    # -- the bot ---------------------------------------------------------------

    async def _bring_bot(self, mixer: RoomMixer, avoid: str = "") -> Peer:
        assert mixer.request is not None
        room = self._rooms.get(mixer.room)
        parties = len(room.participants()) if room else 1
        cost = job_cores(mixer.request, parties, self._config.cost_scale)
        mixer.job_id = secrets.token_hex(12)
        mixer.bot_joined = asyncio.get_running_loop().create_future()
        mixer.worker = await self._launcher.launch(mixer.room, mixer.job_id, cost, avoid)
        try:
            bot = await asyncio.wait_for(mixer.bot_joined, BOT_JOIN_TIMEOUT_S)
        except TimeoutError:
            self.metrics.placements.labels("no_recorder_joined").inc()
            where = f" from worker {mixer.worker}" if mixer.worker else ""
            raise CloudrecError(
                ErrorCode.NOMORE_MCU, f"no recorder joined the room{where} in time"
            ) from None
        mixer.bot = bot
        return bot

    async def _end(self, mixer: RoomMixer, err: int, operator: str, settle: bool = True) -> None:
        """Back to NULL, the bot sent away; with the lock held. Unless the bot
        stopped cleanly, a file whose row still says recording has no recorder
        left to finish it: it is settled as a restart would settle it."""
        bot, mixer.bot = mixer.bot, None
        mixer.bot_joined = None
        if bot is not None:
            with contextlib.suppress(CloudrecError, ConnectionError, RuntimeError):
                await bot.send(LeaveRoom().to_wire())
        lost = self._recordings.being_recorded(mixer.room) if settle else []
        await self._forget(mixer.room)
        await self._move(mixer, MixerState.NULL, err, operator)
        if lost:
            log.warning(
                "room %s: %d file(s) left unfinished by the recorder", mixer.room, len(lost)
            )
            await self._recordings.settle_lost(lost)

    def recorder_admitted(self, room: str, key: str) -> bool:
        """Whether ``key`` is the credential of the job the room waits for."""
        mixer = self._mixers.get(room)
        if mixer is None or mixer.bot_joined is None or mixer.bot_joined.done():
            return False
        return same(key, recorder_key(self._config.recorder_secret, room, mixer.job_id))

    def recorder_joined(self, room: Room, peer: Peer) -> bool:
        """Whether a recorder is expected in ``room``; an unexpected one is refused."""
        mixer = self._mixers.get(room.name)
        if mixer is None or mixer.bot_joined is None or mixer.bot_joined.done():
            return False
        mixer.bot_joined.set_result(peer)
        return True

    async def recorder_message(self, peer: Peer, message: dict[str, Any]) -> None:
        """Output info, counters and ends reported by the room's bot."""
        if peer.room is None:
            return
        mixer = self._mixers.get(peer.room.name)
        if mixer is None or mixer.bot is not peer:
            return
        said = bot_message(message)
        if isinstance(said, OutputInfo):
            mixer.outputs[said.key] = said
            self._recordings.on_output_info(mixer.room, mixer.part_request, said, mixer.session)
            # The bot answers the start before it writes, but its next message
            # may be read before the start call resumes to say RUNNING.
            if mixer.state is MixerState.STARTING and said.state is not OutputState.CREATED:
                mixer.held.append(said)
            else:
                await self._emit(mixer.room, "svrMixerOutputInfo", said.event())
            if said.state is OutputState.CREATED and part_of(said.file_name) > mixer.part:
                # A file split into a later part: a recording moved to another
                # worker goes on past it.
                mixer.part = part_of(said.file_name)
                await self._remember(mixer)
        elif isinstance(said, MixerStats):
            self.metrics.count_stats(mixer.stats, said)
            mixer.stats = said
        else:
            # The bot hit a limit (length, disk) and asks to be stopped; stopping
            # waits on the bot's reply, so it cannot run inside the bot's reader.
            task = asyncio.create_task(self.stop(mixer.room, peer.user, int(said.err)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def recorder_left(self, peer: Peer, room: str) -> None:
        mixer = self._mixers.get(room)
        if mixer is None or mixer.bot is not peer or self._closing:
            return  # closing in a cluster: the bot records on, for the next node
        # A call waiting on the bot fails at once and releases the lock; the
        # loss is then settled under it, whatever call was under way.
        peer.fail_pending()
        async with mixer.lock:
            if mixer.bot is peer and mixer.state in RECORDING:
                if self._config.redis:
                    await self._fail_over(mixer, peer)
                else:
                    await self._end(mixer, int(ErrorCode.SERVER_EXCEPTION), peer.user)

    # -- failover ----------------------------------------------------------------

    async def _fail_over(self, mixer: RoomMixer, lost: Peer) -> None:
        """The bot is gone with its worker, the room still recording: the
        recording goes on in a new part on another worker. With the lock held."""
        lost_worker = mixer.worker
        log.warning("room %s: its recorder on worker %s was lost", mixer.room, lost_worker)
        mixer.bot = None
        unfinished = self._recordings.being_recorded(mixer.room)
        deadline = time.monotonic() + FAILOVER_WINDOW_S
        mixer.part += 1
        mixer.outputs = {}
        while True:
            try:
                bot = await self._bring_bot(mixer, avoid=lost_worker)
                assert mixer.part_request is not None
                paused = mixer.state is MixerState.PAUSED
                await bot.request(StartMixer(mixer.part_request, paused).to_wire())
                break
            except CloudrecError as exc:
                if mixer.bot is not None:  # it joined, then failed: not this one
                    with contextlib.suppress(CloudrecError, ConnectionError, RuntimeError):
                        await mixer.bot.send(LeaveRoom().to_wire())
                    mixer.bot = None
                if time.monotonic() + FAILOVER_RETRY_S >= deadline:
                    log.error(
                        "room %s: no worker took the recording over: %s", mixer.room, exc.message
                    )
                    self.metrics.failovers.labels("failed").inc()
                    await self._end(mixer, int(ErrorCode.SERVER_EXCEPTION), lost.user)
                    await self._recordings.settle_lost(unfinished)
                    return
                await asyncio.sleep(FAILOVER_RETRY_S)
        self.metrics.failovers.labels("moved").inc()
        await self._remember(mixer)
        log.info(
            "room %s: recording goes on in part %d on worker %s",
            mixer.room,
            mixer.part,
            mixer.worker,
        )
        moved = {
            "state": int(mixer.state),
            "err": 0,
            "operatorID": mixer.started_by,
            "part": mixer.part,
            "worker": mixer.worker,
        }
        await self._emit(mixer.room, "svrMixerStateChanged", moved)
        self._tell(mixer, "recording.stateChanged", moved)
        # What the lost bot left is settled once the new part runs: probing
        # reads whole files, and the gap between parts should not wait on it.
        await self._recordings.settle_lost(unfinished)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            for mixer in list(self._mixers.values()):
                bot = mixer.bot
                if bot is None or not mixer.worker or mixer.state not in RECORDING:
                    continue
                try:
                    alive = await self._launcher.alive(mixer.worker)
                except Exception as exc:  # Redis away: nothing can be told now
                    log.debug("room %s: worker %s not checked: %s", mixer.room, mixer.worker, exc)
                    continue
                if not alive:
                    log.warning("worker %s stopped heartbeating", mixer.worker)
                    # Its connection may never close (a machine gone): it leaves now.
                    await self._drop(bot)


def _files(request: StartRequest) -> dict[str, Any]:
    """What a recording writes, for a webhook (no live URL: they carry stream keys)."""
    return {
        "mixers": [
            {
                "id": mixer.id,
                "fileNames": [o.filename for o in mixer.output if o.type is OutputType.FILE],
            }
            for mixer in request.outputs
        ]
    }
