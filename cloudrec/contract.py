"""What the server and a recording bot say to each other, as typed messages.

Each message is a frozen dataclass with ``to_wire`` (a JSON object with its
``type``) and ``from_wire``. The server checks what its callers send once
(cloudrec/wire.py) and sends the result; ``from_wire`` builds it back without
checking it again: a bot trusts the server that started it. Nothing else on
either side reads these messages by key. docs/protocol.md ("Between the server
and the recorder") describes them on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from cloudrec.config import Config, config_from_wire, config_to_wire
from cloudrec.errors import ErrorCode, param_error
from cloudrec.wire import (
    AV_AUDIO,
    AudioCfg,
    AudioFormat,
    Content,
    ContentType,
    KeepAspect,
    MixerCfg,
    MixerContents,
    MixerOutputs,
    OutputSpec,
    OutputState,
    OutputType,
    StartRequest,
    StreamTypes,
    VideoCfg,
)

Wire = dict[str, Any]
MAX_TRACKS = 16
TRACK_SOURCES = ("camera", "mic", "screen", "media")

# -- a validated start request, in the SDK's own shape ---------------------------


def _cfg_to_wire(cfg: MixerCfg) -> Wire:
    out: Wire = {"id": cfg.id, "streamTypes": int(cfg.stream_types), "mode": int(cfg.individual)}
    if cfg.video is None:
        out["acfg"] = {"channelType": cfg.audio.channels - 1, "audioFormat": int(cfg.audio.format)}
    else:
        v = cfg.video
        out["cfg"] = {
            "width": v.width,
            "height": v.height,
            "frameRate": v.frame_rate,
            "bitRate": v.bit_rate,
            "defaultQP": v.default_qp,
            "gop": v.gop,
        }
    return out


def _cfg_from_wire(raw: Wire) -> MixerCfg:
    individual = bool(raw["mode"])
    if "acfg" in raw:
        a = raw["acfg"]
        audio = AudioCfg(a["channelType"] + 1, AudioFormat(a["audioFormat"]))
        return MixerCfg(raw["id"], StreamTypes(raw["streamTypes"]), None, audio, individual)
    v = raw["cfg"]
    video = VideoCfg(
        v["width"], v["height"], v["frameRate"], v["bitRate"], v["defaultQP"], v["gop"]
    )
    return MixerCfg(raw["id"], StreamTypes(raw["streamTypes"]), video, AV_AUDIO, individual)


def _content_to_wire(c: Content) -> Wire:
    return {
        "type": int(c.type),
        "left": c.left,
        "top": c.top,
        "width": c.width,
        "height": c.height,
        "keepAspectRatio": int(c.keep_aspect),
        "param": dict(c.param),
    }


def _content_from_wire(raw: Wire) -> Content:
    return Content(
        ContentType(raw["type"]),
        raw["left"],
        raw["top"],
        raw["width"],
        raw["height"],
        KeepAspect(raw["keepAspectRatio"]),
        dict(raw["param"]),
    )


def contents_to_wire(contents: Sequence[MixerContents]) -> list[Wire]:
    return [{"id": m.id, "content": [_content_to_wire(c) for c in m.content]} for m in contents]


def contents_from_wire(raw: Sequence[Wire]) -> tuple[MixerContents, ...]:
    return tuple(
        MixerContents(m["id"], tuple(_content_from_wire(c) for c in m["content"])) for m in raw
    )


def _output_to_wire(spec: OutputSpec) -> Wire:
    if spec.type is OutputType.LIVE:
        return {"type": int(spec.type), "liveUrl": spec.filename, "errRetryTimes": spec.retries}
    out: Wire = {"type": int(spec.type), "filename": spec.filename}
    # Only what was asked for: a request without them reads as the SDK writes it.
    for key, value in (
        ("interval", spec.interval),
        ("maxFileSeconds", spec.max_seconds),
        ("maxFileBytes", spec.max_bytes),
    ):
        if value:
            out[key] = value
    return out


def _output_from_wire(raw: Wire) -> OutputSpec:
    if raw["type"] == OutputType.LIVE:
        return OutputSpec(OutputType.LIVE, raw["liveUrl"], "flv", raw["errRetryTimes"])
    name = raw["filename"]
    return OutputSpec(
        OutputType.FILE,
        name,
        name.rsplit(".", 1)[-1].lower(),
        max_seconds=raw.get("maxFileSeconds", 0),
        max_bytes=raw.get("maxFileBytes", 0),
        interval=raw.get("interval", 0),
    )


def request_to_wire(request: StartRequest) -> Wire:
    """The start call as the SDK writes it, every default filled in: parsing it
    again (cloudrec/wire.py parse_start) gives the same request."""
    return {
        "cfgs": [_cfg_to_wire(c) for c in request.cfgs],
        "contents": contents_to_wire(request.contents),
        "outputs": [
            {"id": o.id, "output": [_output_to_wire(s) for s in o.output]} for o in request.outputs
        ],
    }


def request_from_wire(raw: Wire) -> StartRequest:
    return StartRequest(
        tuple(_cfg_from_wire(c) for c in raw["cfgs"]),
        contents_from_wire(raw["contents"]),
        tuple(
            MixerOutputs(o["id"], tuple(_output_from_wire(s) for s in o["output"]))
            for o in raw["outputs"]
        ),
    )


# -- server to bot ---------------------------------------------------------------


@dataclass(frozen=True)
class RecordJob:
    """What a bot process is given to start: where to dial, which room, how,
    and the credential it joins with (``key``, bound to this ``job_id``; empty
    while the job travels through Redis, where the worker fills it in)."""

    ws_url: str
    room: str
    config: Config
    log_level: int
    job_id: str = ""
    key: str = ""
    cost: float = 0.0  # the cores it was estimated to need where it was placed
    # In a cluster, how long the bot records on while no control node answers.
    reconnect_s: float = 0.0

    def to_wire(self) -> Wire:
        return {
            "type": "job",
            "wsUrl": self.ws_url,
            "room": self.room,
            "config": config_to_wire(self.config),
            "logLevel": self.log_level,
            "jobId": self.job_id,
            "key": self.key,
            "cost": self.cost,
            "reconnectS": self.reconnect_s,
        }

    @classmethod
    def from_wire(cls, raw: Wire) -> RecordJob:
        return cls(
            raw["wsUrl"],
            raw["room"],
            config_from_wire(raw["config"]),
            raw["logLevel"],
            raw.get("jobId", ""),
            raw.get("key", ""),
            float(raw.get("cost", 0.0)),
            float(raw.get("reconnectS", 0.0)),
        )


@dataclass(frozen=True)
class RunningRecording:
    """What a cluster keeps in Redis of each recording while it runs, so that a
    control node started meanwhile can take it back."""

    job_id: str
    worker: str
    session: str
    part: int
    started_by: str
    started_at: float  # epoch seconds
    request: StartRequest
    paused: bool = False

    def to_wire(self) -> Wire:
        return {
            "jobId": self.job_id,
            "worker": self.worker,
            "session": self.session,
            "part": self.part,
            "startedBy": self.started_by,
            "startedAt": self.started_at,
            "request": request_to_wire(self.request),
            "paused": self.paused,
        }

    @classmethod
    def from_wire(cls, raw: Wire) -> RunningRecording:
        return cls(
            raw["jobId"],
            raw["worker"],
            raw["session"],
            int(raw["part"]),
            raw["startedBy"],
            float(raw["startedAt"]),
            request_from_wire(raw["request"]),
            # Written before pausing existed: running.
            bool(raw.get("paused", False)),
        )


@dataclass(frozen=True)
class StartMixer:
    """``paused``: the recording was paused when it moved to this bot, and
    goes on paused from its first tick."""

    TYPE: ClassVar[str] = "mixer.start"
    request: StartRequest
    paused: bool = False

    def to_wire(self) -> Wire:
        return {"type": self.TYPE, **request_to_wire(self.request), "paused": self.paused}

    @classmethod
    def from_wire(cls, raw: Wire) -> StartMixer:
        return cls(request_from_wire(raw), bool(raw["paused"]))


@dataclass(frozen=True)
class UpdateMixer:
    """A whole new layout for the running mixers (whole replacement)."""

    TYPE: ClassVar[str] = "mixer.update"
    contents: tuple[MixerContents, ...]

    def to_wire(self) -> Wire:
        return {"type": self.TYPE, "contents": contents_to_wire(self.contents)}

    @classmethod
    def from_wire(cls, raw: Wire) -> UpdateMixer:
        return cls(contents_from_wire(raw["contents"]))


@dataclass(frozen=True)
class _Request:
    """A request that is its type alone."""

    TYPE: ClassVar[str]

    def to_wire(self) -> Wire:
        return {"type": self.TYPE}

    @classmethod
    def from_wire(cls, raw: Wire) -> Self:
        return cls()


@dataclass(frozen=True)
class StopMixer(_Request):
    """Finalise every output; the bot answers once they are closed."""

    TYPE: ClassVar[str] = "mixer.stop"


@dataclass(frozen=True)
class PauseMixer(_Request):
    """Nothing of the room reaches a file until resumed; live pushes show a slate."""

    TYPE: ClassVar[str] = "mixer.pause"


@dataclass(frozen=True)
class ResumeMixer(_Request):
    """The files go on from where they paused."""

    TYPE: ClassVar[str] = "mixer.resume"


@dataclass(frozen=True)
class LeaveRoom(_Request):
    """The server is done with this bot."""

    TYPE: ClassVar[str] = "mixer.leave"


# -- bot to server ---------------------------------------------------------------


@dataclass(frozen=True)
class OutputInfo:
    """One output's progress: the payload of svrMixerOutputInfo."""

    TYPE: ClassVar[str] = "mixer.outputInfo"
    id: str
    file_name: str
    state: OutputState
    duration: int  # ms
    file_size: int  # bytes
    err_code: int

    @property
    def key(self) -> tuple[str, str]:
        return self.id, self.file_name

    def event(self) -> Wire:
        """As the SDK's event carries it."""
        return {
            "id": self.id,
            "fileName": self.file_name,
            "state": int(self.state),
            "duration": self.duration,
            "fileSize": self.file_size,
            "errCode": self.err_code,
        }

    def to_wire(self) -> Wire:
        return {"type": self.TYPE, "data": self.event()}

    @classmethod
    def from_wire(cls, raw: Wire) -> OutputInfo:
        d = raw["data"]
        return cls(
            d["id"], d["fileName"], OutputState(d["state"]), d["duration"], d["fileSize"],
            d["errCode"],
        )  # fmt: skip


@dataclass(frozen=True)
class TileStats:
    """What one video content of a mixer showed so far (ms of recording): in
    all, frozen on a frame that arrived over 250 ms before, and a placeholder
    (the source sent nothing for 3 s, or is not there)."""

    mixer_id: str
    source: str
    shown_ms: int
    frozen_ms: int
    placeholder_ms: int

    def to_wire(self) -> Wire:
        return {
            "mixerId": self.mixer_id,
            "source": self.source,
            "shownMs": self.shown_ms,
            "frozenMs": self.frozen_ms,
            "placeholderMs": self.placeholder_ms,
        }

    @classmethod
    def from_wire(cls, raw: Wire) -> TileStats:
        return cls(
            raw["mixerId"], raw["source"], raw["shownMs"], raw["frozenMs"], raw["placeholderMs"]
        )


@dataclass(frozen=True)
class MixerStats:
    """The bot's counters, once a second: a late tick or a dropped frame means
    the machine is short of CPU for what it records."""

    TYPE: ClassVar[str] = "mixer.stats"
    video_ticks: int = 0
    late_video_ticks: int = 0
    late_audio_ticks: int = 0
    frames_encoded: int = 0
    frames_dropped: int = 0
    frames_repeated: int = 0
    audio_underruns: int = 0
    # Sound lost on the way and made up for (FEC, concealment or silence).
    audio_concealed_ms: int = 0
    # Sound drawn out while it waited for a playout delay that rose.
    audio_stretched_ms: int = 0
    # What media is recorded after its capture now (recorder/capture.py).
    playout_delay_ms: int = 0
    live_frames_dropped: int = 0  # frames a slow or reconnecting live push could not take
    # UDP datagrams the bot received (media, RTCP, ICE): with its CPU, what a
    # packet costs it.
    packets_received: int = 0
    # Object storage: bytes sent, tries repeated, files given up on (for now).
    upload_bytes: int = 0
    upload_retries: int = 0
    upload_failures: int = 0
    # Over every tile, and tile by tile.
    frozen_ms: int = 0
    placeholder_ms: int = 0
    tiles: tuple[TileStats, ...] = ()

    def counters(self) -> Wire:
        """camelCase, as getSvrMixerState and the REST state answer them."""
        counted = {_camel(f.name): getattr(self, f.name) for f in fields(self) if f.name != "tiles"}
        return {**counted, "tiles": [tile.to_wire() for tile in self.tiles]}

    def to_wire(self) -> Wire:
        return {"type": self.TYPE, "data": self.counters()}

    @classmethod
    def from_wire(cls, raw: Wire) -> MixerStats:
        data = raw["data"]
        counted = {f.name: data[_camel(f.name)] for f in fields(cls) if f.name != "tiles"}
        return cls(**counted, tiles=tuple(TileStats.from_wire(t) for t in data["tiles"]))


@dataclass(frozen=True)
class RecordingEnded:
    """The bot hit a limit (length, disk) or a failure, and asks to be stopped."""

    TYPE: ClassVar[str] = "mixer.ended"
    err: ErrorCode

    def to_wire(self) -> Wire:
        return {"type": self.TYPE, "err": int(self.err)}

    @classmethod
    def from_wire(cls, raw: Wire) -> RecordingEnded:
        return cls(ErrorCode(raw["err"]))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


ServerMessage = StartMixer | UpdateMixer | StopMixer | PauseMixer | ResumeMixer | LeaveRoom
BotMessage = OutputInfo | MixerStats | RecordingEnded
_SERVER_MESSAGES: dict[str, type[ServerMessage]] = {
    m.TYPE: m for m in (StartMixer, UpdateMixer, StopMixer, PauseMixer, ResumeMixer, LeaveRoom)
}
_BOT_MESSAGES: dict[str, type[BotMessage]] = {
    m.TYPE: m for m in (OutputInfo, MixerStats, RecordingEnded)
}
SERVER_MESSAGE_TYPES = frozenset(_SERVER_MESSAGES)


def server_message(raw: Wire) -> ServerMessage:
    """A message from the server, on the bot's side."""
    return _SERVER_MESSAGES[raw["type"]].from_wire(raw)


def bot_message(raw: Wire) -> BotMessage:
    """A message from a bot, on the server's side: only the bot the server
    admitted with its key sends these, but one that reads wrong is a bot's bug
    and refused as such, never a server failure."""
    kind = _BOT_MESSAGES.get(raw.get("type", ""))
    if kind is None:
        raise param_error(f"type '{raw.get('type')}' is no message of a recorder")
    try:
        return kind.from_wire(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise param_error(f"{kind.TYPE} does not read: {exc!r}") from None


# -- what a publisher says it sends --------------------------------------------


@dataclass(frozen=True)
class TrackMeta:
    """One track a publisher sends: its m-line, kind, source, camera number."""

    kind: str  # audio | video
    source: str  # camera | mic | screen | media
    cam_id: int | None = None  # cameras only
    mid: str | None = None  # in an offer: the m-line that carries it

    def to_wire(self) -> Wire:
        out: Wire = {"kind": self.kind, "source": self.source}
        if self.cam_id is not None:
            out["camId"] = self.cam_id
        if self.mid is not None:
            out["mid"] = self.mid
        return out

    @classmethod
    def from_wire(cls, raw: Wire) -> TrackMeta:
        return cls(raw["kind"], raw["source"], raw.get("camId"), raw.get("mid"))


def parse_tracks(raw: Any, path: str, *, with_mids: bool) -> tuple[TrackMeta, ...]:
    """What a publisher says of its tracks (a ``tracks`` message, or an offer's
    ``tracks``), checked once by the server; an offer's name their m-lines."""
    if not isinstance(raw, list) or len(raw) > MAX_TRACKS:
        raise param_error(f"{path} must be a list of at most {MAX_TRACKS}")
    tracks: list[TrackMeta] = []
    for i, track in enumerate(raw):
        if not isinstance(track, Mapping) or track.get("kind") not in ("audio", "video"):
            raise param_error(f"{path}[{i}].kind must be 'audio' or 'video'")
        kind = track["kind"]
        source = track.get("source", "camera" if kind == "video" else "mic")
        if source not in TRACK_SOURCES:
            raise param_error(f"{path}[{i}].source is not a known source")
        cam_id = None
        if source == "camera":
            cam_id = track.get("camId", 0)
            if isinstance(cam_id, bool) or not isinstance(cam_id, int):
                cam_id = -1
            if not 0 <= cam_id < MAX_TRACKS:
                raise param_error(f"{path}[{i}].camId must be 0-{MAX_TRACKS - 1}")
        mid = track.get("mid")
        if with_mids and (not isinstance(mid, str) or not 0 < len(mid) <= 32):
            raise param_error(f"{path}[{i}].mid must name the offer's m-line")
        tracks.append(TrackMeta(kind, source, cam_id, mid if with_mids else None))
    return tuple(tracks)
