"""The svrMixer wire format (SPEC §2), parsed once into frozen dataclasses.

Every function here is pure. A malformed document raises CloudrecError whose
message names the offending field with its JSON path, e.g.
``contents[0].content[1].width must be > 0``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag
from functools import cached_property
from typing import Any

from cloudrec.errors import CloudrecError, ErrorCode, param_error
from cloudrec.ids import MAX_ID_BYTES, check_id, has_control_characters
from cloudrec.sources import ANYONE, SourceId


class StreamTypes(IntFlag):
    AUDIO = 1
    VIDEO = 2


class ContentType(IntEnum):
    VIDEO = 0
    PIC = 1
    SCREEN = 2
    MEDIA = 3
    TIMESTAMP = 4
    REMOTE_SCREEN = 5
    WBOARD = 6
    TEXT = 7
    AUDIO = 9


class KeepAspect(IntEnum):
    STRETCH = 0
    KEEP = 1
    CROP = 2


class AudioFormat(IntEnum):
    AAC = 0
    MP3 = 1
    PCM = 2


# The file types each audio-only format is written as.
AUDIO_CONTAINERS = {AudioFormat.AAC: "m4a", AudioFormat.MP3: "mp3", AudioFormat.PCM: "wav"}
AUDIO_CODECS = {AudioFormat.AAC: "aac", AudioFormat.MP3: "mp3", AudioFormat.PCM: "pcm_s16le"}


class OutputType(IntEnum):
    FILE = 0
    LIVE = 1


class MixerState(IntEnum):
    NULL = 0
    STARTING = 1
    RUNNING = 2
    PAUSED = 3
    STOPPING = 4


class OutputState(IntEnum):
    NONE = 0
    CREATED = 1
    WRITING = 2
    CLOSED = 3
    ERR = 4
    UPLOADING = 5
    UPLOADSUCCESS = 6
    UPLOADERR = 7


MAX_TEXT_LENGTH = 2000
VIDEO_CONTAINERS = frozenset({"mp4", "ts", "flv", "mkv", "m3u8"})
# A snapshot output: a JPEG of the composite every ``interval`` seconds.
SNAPSHOT_CONTAINER = "jpg"
DEFAULT_SNAPSHOT_INTERVAL_S = 10
MAX_SNAPSHOT_INTERVAL_S = 3600
# Split files: a part at least this long or large, at most a day.
MIN_FILE_SECONDS = 1
MAX_FILE_SECONDS = 24 * 3600
MIN_FILE_BYTES = 64 << 10
MAX_FILE_BYTES = 1 << 40
MAX_FILENAME_BYTES = 255
# One name between slashes: the file system's NAME_MAX, less the room the
# recorder needs beside it ("." + name + ".segments" for an HLS playlist).
MAX_NAME_BYTES = 255 - len("..segments")
MAX_URL_LENGTH = 1024
USER_SLOT = "{userid}"  # where a mode-1 file name takes each participant's ID
_LIVE_URL = re.compile(r"^rtmps?://[^\s/?#]+(:\d+)?/\S+$")
DEFAULT_QP = 26
DEFAULT_FRAME_RATE = 15
FILE_GOP_SECONDS = 15
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


@dataclass(frozen=True)
class Limits:
    """Bounds a request must respect; all come from the server config."""

    max_width: int = 1920
    max_height: int = 1080
    max_mixers: int = 4
    max_contents: int = 32
    max_outputs: int = 4


@dataclass(frozen=True)
class VideoCfg:
    width: int
    height: int
    frame_rate: int
    bit_rate: int
    default_qp: int
    gop: int


@dataclass(frozen=True)
class AudioCfg:
    channels: int  # 1 mono, 2 stereo
    format: AudioFormat


# What a mixer with video carries: AAC stereo.
AV_AUDIO = AudioCfg(2, AudioFormat.AAC)


@dataclass(frozen=True)
class MixerCfg:
    id: str
    stream_types: StreamTypes
    video: VideoCfg | None
    audio: AudioCfg = AV_AUDIO
    individual: bool = False  # mode 1: a file per participant, not a mix

    @property
    def has_audio(self) -> bool:
        return StreamTypes.AUDIO in self.stream_types

    @property
    def file_types(self) -> frozenset[str]:
        if self.video is None:
            return frozenset({AUDIO_CONTAINERS[self.audio.format]})
        return VIDEO_CONTAINERS | {SNAPSHOT_CONTAINER}


@dataclass(frozen=True)
class Content:
    type: ContentType
    left: int
    top: int
    width: int
    height: int
    keep_aspect: KeepAspect
    param: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def source(self) -> SourceId | None:
        """The video source this content shows, if it shows one (asked every tick)."""
        user = self.param.get("userid") or ANYONE
        if self.type is ContentType.VIDEO:
            return SourceId.parse(self.param["camid"])  # checked by parse_content
        if self.type is ContentType.SCREEN:
            return SourceId.share(user, "screen")
        if self.type is ContentType.REMOTE_SCREEN:
            return SourceId.share(ANYONE, "screen")
        if self.type is ContentType.MEDIA:
            return SourceId.share(user, "media")
        return None


@dataclass(frozen=True)
class MixerContents:
    id: str
    content: tuple[Content, ...]

    @property
    def audio_users(self) -> frozenset[str] | None:
        """Whose audio this mixer hears; None means everybody's (no type-9 content)."""
        users = {c.param["userid"] for c in self.content if c.type is ContentType.AUDIO}
        return frozenset(users) if users else None


@dataclass(frozen=True)
class OutputSpec:
    type: OutputType
    filename: str  # a file name, or the URL of a live push
    container: str
    retries: int = 0  # errRetryTimes of a live push
    # A file goes on in a new part past either (0: never); not a playlist's.
    max_seconds: int = 0
    max_bytes: int = 0
    interval: int = 0  # a snapshot output's seconds between pictures

    @property
    def splits(self) -> bool:
        return bool(self.max_seconds or self.max_bytes)


@dataclass(frozen=True)
class MixerOutputs:
    id: str
    output: tuple[OutputSpec, ...]


@dataclass(frozen=True)
class StartRequest:
    cfgs: tuple[MixerCfg, ...]
    contents: tuple[MixerContents, ...]
    outputs: tuple[MixerOutputs, ...]

    def contents_for(self, mixer_id: str) -> MixerContents:
        return contents_for(self.contents, mixer_id)


def contents_for(contents: Sequence[MixerContents], mixer_id: str) -> MixerContents:
    for c in contents:
        if c.id == mixer_id:
            return c
    return MixerContents(id=mixer_id, content=())


# -- field readers -------------------------------------------------------------


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise param_error(f"{path} must be an object")
    return value


def _list(value: Any, path: str, *, min_len: int, max_len: int) -> list[Any]:
    if not isinstance(value, list):
        raise param_error(f"{path} must be a list")
    if not min_len <= len(value) <= max_len:
        raise param_error(f"{path} must hold {min_len} to {max_len} items, not {len(value)}")
    return value


def _int(obj: Mapping[str, Any], key: str, path: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if value is None:
        raise param_error(f"{path}.{key} is required")
    # bool is an int subclass in Python; true/false is never a valid number here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(f"{path}.{key} must be an integer")
    return value


def _id(obj: Mapping[str, Any], path: str) -> str:
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise param_error(f"{path}.id must be a non-empty string of at most 64 characters")
    return value


def _in_range(value: int, lo: int, hi: int, name: str) -> int:
    if not lo <= value <= hi:
        raise param_error(f"{name} must be between {lo} and {hi}, not {value}")
    return value


# -- cfgs ----------------------------------------------------------------------


def parse_video_cfg(raw: Any, path: str, limits: Limits) -> VideoCfg:
    cfg = _obj(raw, path)
    width = _int(cfg, "width", path)
    height = _int(cfg, "height", path)
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % 2:
            raise param_error(f"{path}.{name} must be a positive even number, not {value}")
    if width > limits.max_width or height > limits.max_height:
        raise CloudrecError(
            ErrorCode.RECORD_SIZE_ERR,
            f"{path} size {width}x{height} is over the limit "
            f"{limits.max_width}x{limits.max_height}",
        )
    frame_rate = _in_range(
        _int(cfg, "frameRate", path, DEFAULT_FRAME_RATE), 1, 30, f"{path}.frameRate"
    )
    bit_rate = _int(cfg, "bitRate", path, default_bit_rate(width, height))
    _in_range(bit_rate, 10_000, 50_000_000, f"{path}.bitRate")
    qp = _in_range(_int(cfg, "defaultQP", path, DEFAULT_QP), 0, 51, f"{path}.defaultQP")
    gop = _int(cfg, "gop", path, frame_rate * FILE_GOP_SECONDS)
    _in_range(gop, 1, 1000, f"{path}.gop")
    return VideoCfg(width, height, frame_rate, bit_rate, qp, gop)


def parse_audio_cfg(raw: Any, path: str) -> AudioCfg:
    acfg = _obj(raw if raw is not None else {}, path)
    channel_type = _int(acfg, "channelType", path, 1)
    if channel_type not in (0, 1):
        raise param_error(f"{path}.channelType must be 0 (mono) or 1 (stereo), not {channel_type}")
    audio_format = _int(acfg, "audioFormat", path, 0)
    if audio_format not in (0, 1, 2):
        raise param_error(
            f"{path}.audioFormat must be 0 (AAC), 1 (MP3) or 2 (PCM), not {audio_format}"
        )
    return AudioCfg(channel_type + 1, AudioFormat(audio_format))


def default_bit_rate(width: int, height: int) -> int:
    """SPEC's guide (360p 500k, 720p 1M, 1080p 2M), scaled by pixel count between."""
    pixels = width * height
    if pixels <= 640 * 360:
        return 500_000
    if pixels <= 1280 * 720:
        return 1_000_000
    return 2_000_000


def parse_cfgs(raw: Any, limits: Limits) -> tuple[MixerCfg, ...]:
    items = _list(raw, "cfgs", min_len=1, max_len=limits.max_mixers)
    cfgs: list[MixerCfg] = []
    for i, item in enumerate(items):
        path = f"cfgs[{i}]"
        obj = _obj(item, path)
        mixer_id = _id(obj, path)
        if any(c.id == mixer_id for c in cfgs):
            raise param_error(f"{path}.id '{mixer_id}' is used twice")
        st = _int(obj, "streamTypes", path, 3)
        if st not in (1, 2, 3):
            raise param_error(f"{path}.streamTypes must be 1, 2 or 3, not {st}")
        stream_types = StreamTypes(st)
        mode = _int(obj, "mode", path, 0)
        if mode not in (0, 1):
            raise param_error(f"{path}.mode must be 0 (mixed) or 1 (individual), not {mode}")
        if StreamTypes.VIDEO not in stream_types:
            audio = parse_audio_cfg(obj.get("acfg"), f"{path}.acfg")
            cfgs.append(MixerCfg(mixer_id, stream_types, None, audio, individual=mode == 1))
            continue
        video = parse_video_cfg(obj.get("cfg"), f"{path}.cfg", limits)
        cfgs.append(MixerCfg(mixer_id, stream_types, video, individual=mode == 1))
    return tuple(cfgs)


# -- contents ------------------------------------------------------------------


def _param(raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    obj = _obj(raw, path)
    out: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise param_error(f"{path}.{key} must be a string or a number")
        out[str(key)] = str(value)
    return out


def parse_content(raw: Any, path: str, cfg: MixerCfg) -> Content:
    obj = _obj(raw, path)
    type_value = _int(obj, "type", path)
    try:
        ctype = ContentType(type_value)
    except ValueError:
        raise param_error(f"{path}.type {type_value} is not a content type") from None
    if ctype is ContentType.AUDIO:
        # SPEC: a type-9 param is a plain user-ID string; {"userid": ...} is accepted too.
        raw_param = obj.get("param")
        user = raw_param.get("userid") if isinstance(raw_param, Mapping) else raw_param
        if not isinstance(user, str) or not user:
            raise param_error(f"{path}.param must be a user ID string")
        return Content(ctype, 0, 0, 0, 0, KeepAspect.KEEP, {"userid": user})
    canvas = cfg.video
    if canvas is None:
        raise param_error(f"{path}.type must be 9 (audio) in an audio-only mixer")
    param = _param(obj.get("param"), f"{path}.param")
    left = _int(obj, "left", path, 0)
    top = _int(obj, "top", path, 0)
    width = _int(obj, "width", path)
    height = _int(obj, "height", path)
    for name, value in (("left", left), ("top", top)):
        if value < 0:
            raise param_error(f"{path}.{name} must be >= 0")
    for name, value in (("width", width), ("height", height)):
        # A text content of width or height 0 is sized to its text.
        if value < 0 or (value == 0 and ctype is not ContentType.TEXT):
            raise param_error(f"{path}.{name} must be > 0")
    if left + width > canvas.width or top + height > canvas.height:
        raise param_error(
            f"{path} rectangle ({left},{top} {width}x{height}) "
            f"is outside the {canvas.width}x{canvas.height} canvas"
        )
    keep = _int(obj, "keepAspectRatio", path, 1)
    if keep not in (0, 1, 2):
        raise param_error(f"{path}.keepAspectRatio must be 0, 1 or 2, not {keep}")
    if ctype is ContentType.VIDEO:
        camid = param.get("camid", "")
        try:
            if SourceId.parse(camid).kind != "camera":
                raise ValueError(camid)
        except ValueError:
            raise param_error(
                f"{path}.param.camid must look like 'userID.camID', not '{camid}'"
            ) from None
    if ctype is ContentType.PIC and not re.fullmatch(r"[0-9a-f]{16}", param.get("resourceid", "")):
        raise param_error(f"{path}.param.resourceid must name a registered image")
    if ctype is ContentType.SCREEN and not param.get("userid"):
        raise param_error(f"{path}.param.userid must name whose screen to show")
    if ctype is ContentType.TEXT:
        text = param.get("text", "")
        if not text or len(text) > MAX_TEXT_LENGTH:
            raise param_error(f"{path}.param.text must hold 1 to {MAX_TEXT_LENGTH} characters")
    for key in ("color", "background"):
        if key in param and not _COLOR_RE.match(param[key]):
            raise param_error(f"{path}.param.{key} must be #RRGGBB or #RRGGBBAA")
    for key, lo, hi in (("font-size", 6, 200), ("text-margin", 0, 100)):
        if key in param:
            try:
                value = int(param[key])
            except ValueError:
                raise param_error(f"{path}.param.{key} must be an integer") from None
            _in_range(value, lo, hi, f"{path}.param.{key}")
    return Content(ctype, left, top, width, height, KeepAspect(keep), param)


def parse_contents(raw: Any, cfgs: Sequence[MixerCfg], limits: Limits) -> tuple[MixerContents, ...]:
    by_id = {c.id: c for c in cfgs}
    items = _list(raw, "contents", min_len=0, max_len=len(cfgs))
    result: list[MixerContents] = []
    for i, item in enumerate(items):
        path = f"contents[{i}]"
        obj = _obj(item, path)
        mixer_id = _id(obj, path)
        cfg = by_id.get(mixer_id)
        if cfg is None:
            raise param_error(f"{path}.id '{mixer_id}' names no mixer in cfgs")
        if any(c.id == mixer_id for c in result):
            raise param_error(f"{path}.id '{mixer_id}' is used twice")
        if cfg.individual and obj.get("content"):
            raise param_error(
                f"{path}: mixer '{mixer_id}' records each participant alone "
                "(mode 1) and takes no layout"
            )
        content_raw = _list(
            obj.get("content", []), f"{path}.content", min_len=0, max_len=limits.max_contents
        )
        content = tuple(
            parse_content(c, f"{path}.content[{j}]", cfg) for j, c in enumerate(content_raw)
        )
        result.append(MixerContents(mixer_id, content))
    return tuple(result)


# -- outputs -------------------------------------------------------------------


def parse_filename(value: Any, path: str, allowed: frozenset[str]) -> tuple[str, str]:
    """Checks a requested recording name; returns it normalised and its container.

    The name is relative to the recordings directory, so it may not climb out
    of it; storage resolves it again before opening (defence in depth).
    """
    bad = ErrorCode.INVALIDFILENAME
    if not isinstance(value, str) or not value:
        raise CloudrecError(bad, f"{path} must be a non-empty string")
    if has_control_characters(value):
        raise CloudrecError(bad, f"{path} holds a control character")
    if "\\" in value:
        raise CloudrecError(bad, f"{path} holds a backslash")
    # Bytes, as the file system counts them: 100 CJK characters are 300 bytes.
    if len(value.encode()) > MAX_FILENAME_BYTES:
        raise CloudrecError(bad, f"{path} is longer than {MAX_FILENAME_BYTES} bytes in UTF-8")
    parts = [p for p in value.split("/") if p]
    # A leading dot is the recorder's own (an HLS playlist's segment folder,
    # recorder/outputs.py), so no output can be named into another's files.
    if not parts or any(p.startswith(".") for p in parts):
        raise CloudrecError(
            bad, f"{path} '{value}' may not contain '.' or '..' or names starting with '.'"
        )
    if any(len(p.encode()) > MAX_NAME_BYTES for p in parts):
        raise CloudrecError(bad, f"{path} has a name longer than {MAX_NAME_BYTES} bytes")
    name = parts[-1]
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    if not dot or not stem or ext not in allowed:
        raise CloudrecError(
            bad, f"{path} '{value}' must end in one of: {', '.join(sorted(allowed))}"
        )
    return "/" + "/".join(parts), ext


def individual_name(template: str, user: str) -> str:
    """A mode-1 file name for one participant: ``/d/{userid}.mp4`` -> ``/d/alice.mp4``."""
    return template.replace(USER_SLOT, user)


def individual_spec(spec: OutputSpec, user: str) -> OutputSpec:
    """The output of one participant in a mode-1 mixer, checked as any file name is
    (user IDs are checked at join, and again here where they become paths)."""
    check_id(user, "user")
    filename, container = parse_filename(
        individual_name(spec.filename, user),
        f"filename for user '{user}'",
        frozenset({spec.container}),
    )
    return replace(spec, filename=filename, container=container)


def parse_outputs(raw: Any, cfgs: Sequence[MixerCfg], limits: Limits) -> tuple[MixerOutputs, ...]:
    by_id = {c.id: c for c in cfgs}
    items = _list(raw, "outputs", min_len=1, max_len=len(cfgs))
    result: list[MixerOutputs] = []
    seen_files: set[str] = set()
    for i, item in enumerate(items):
        path = f"outputs[{i}]"
        obj = _obj(item, path)
        mixer_id = _id(obj, path)
        cfg = by_id.get(mixer_id)
        if cfg is None:
            raise param_error(f"{path}.id '{mixer_id}' names no mixer in cfgs")
        if any(o.id == mixer_id for o in result):
            raise param_error(f"{path}.id '{mixer_id}' is used twice")
        specs: list[OutputSpec] = []
        out_items = _list(
            obj.get("output"), f"{path}.output", min_len=1, max_len=limits.max_outputs
        )
        for j, out in enumerate(out_items):
            opath = f"{path}.output[{j}]"
            oobj = _obj(out, opath)
            otype = _int(oobj, "type", opath, 0)
            if otype == OutputType.LIVE:
                if cfg.individual:
                    raise param_error(f"{opath}.type 1 (live push) cannot serve mode 1")
                if cfg.video is None:
                    raise param_error(f"{opath}.type 1 (live push) needs a mixer with video")
                url = oobj.get("liveUrl")
                if (
                    not isinstance(url, str)
                    or not _LIVE_URL.match(url)
                    or len(url) > MAX_URL_LENGTH
                ):
                    raise param_error(f"{opath}.liveUrl must be an rtmp:// or rtmps:// URL")
                retries = _in_range(
                    _int(oobj, "errRetryTimes", opath, 3), 0, 100, f"{opath}.errRetryTimes"
                )
                specs.append(OutputSpec(OutputType.LIVE, url, "flv", retries))
                continue
            if otype != OutputType.FILE:
                raise param_error(f"{opath}.type must be 0 (file) or 1 (live), not {otype}")
            filename, container = parse_filename(
                oobj.get("filename"), f"{opath}.filename", cfg.file_types
            )
            if cfg.individual != (USER_SLOT in filename):
                raise CloudrecError(
                    ErrorCode.INVALIDFILENAME,
                    f"{opath}.filename must contain {USER_SLOT} exactly when its mixer "
                    "records each participant alone (mode 1)",
                )
            if cfg.individual:
                # It must hold the longest user ID too.
                parse_filename(
                    individual_name(filename, "u" * MAX_ID_BYTES),
                    f"{opath}.filename with a {MAX_ID_BYTES}-byte user ID",
                    cfg.file_types,
                )
            if filename in seen_files:
                raise CloudrecError(
                    ErrorCode.FILEALREADYEXISTS, f"{opath}.filename '{filename}' is used twice"
                )
            seen_files.add(filename)
            specs.append(_file_spec(oobj, opath, filename, container))
        result.append(MixerOutputs(mixer_id, tuple(specs)))
    missing = [c.id for c in cfgs if all(o.id != c.id for o in result)]
    if missing:
        raise param_error(f"outputs has no entry for mixer id '{missing[0]}'")
    return tuple(result)


def _file_spec(obj: Mapping[str, Any], path: str, filename: str, container: str) -> OutputSpec:
    """A file output's own limits: a snapshot's interval, a file's split points."""
    if container == SNAPSHOT_CONTAINER:
        for key in ("maxFileSeconds", "maxFileBytes"):
            if key in obj:
                raise param_error(f"{path}.{key}: a snapshot output (.jpg) is not split")
        interval = _int(obj, "interval", path, DEFAULT_SNAPSHOT_INTERVAL_S)
        _in_range(interval, 1, MAX_SNAPSHOT_INTERVAL_S, f"{path}.interval")
        return OutputSpec(OutputType.FILE, filename, container, interval=interval)
    if "interval" in obj:
        raise param_error(f"{path}.interval is for a snapshot output (.jpg) only")
    limits = {}
    for key, lo, hi in (
        ("maxFileSeconds", MIN_FILE_SECONDS, MAX_FILE_SECONDS),
        ("maxFileBytes", MIN_FILE_BYTES, MAX_FILE_BYTES),
    ):
        if key in obj:
            if container == "m3u8":
                raise param_error(f"{path}.{key}: a playlist (.m3u8) is segmented already")
            limits[key] = _in_range(_int(obj, key, path), lo, hi, f"{path}.{key}")
    return OutputSpec(
        OutputType.FILE,
        filename,
        container,
        max_seconds=limits.get("maxFileSeconds", 0),
        max_bytes=limits.get("maxFileBytes", 0),
    )


def parse_start(cfgs: Any, contents: Any, outputs: Any, limits: Limits) -> StartRequest:
    parsed_cfgs = parse_cfgs(cfgs, limits)
    return StartRequest(
        parsed_cfgs,
        parse_contents(contents if contents is not None else [], parsed_cfgs, limits),
        parse_outputs(outputs, parsed_cfgs, limits),
    )


_PART_SUFFIX = re.compile(r"\.part(\d+)(\.[^./]+)$")


def part_name(name: str, part: int) -> str:
    """The file a recording goes on in after it moved to another worker:
    ``/d/demo.mp4`` -> ``/d/demo.part2.mp4`` (a mode-1 template alike)."""
    if part == 1:
        return name
    head, dot, ext = name.rpartition(".")
    return f"{head}.part{part}.{ext}" if dot and "/" not in ext else f"{name}.part{part}"


def first_part_name(name: str) -> str:
    """The inverse: the name of part 1 of the recording ``name`` is a part of."""
    return _PART_SUFFIX.sub(r"\2", name)


def part_of(name: str) -> int:
    """Which part of its recording the file ``name`` is (1 for the first)."""
    found = _PART_SUFFIX.search(name)
    return int(found.group(1)) if found else 1


def request_for_part(request: StartRequest, part: int) -> StartRequest:
    """The same recording, its files renamed for ``part``; live pushes go on
    to the same URL."""
    outputs = tuple(
        MixerOutputs(
            mixer.id,
            tuple(
                replace(spec, filename=part_name(spec.filename, part))
                if spec.type is OutputType.FILE
                else spec
                for spec in mixer.output
            ),
        )
        for mixer in request.outputs
    )
    return StartRequest(request.cfgs, request.contents, outputs)


def is_file_output(request: StartRequest, name: str) -> bool:
    """Whether ``name`` is one of the request's files (not a live push)."""
    return any(
        spec.type is OutputType.FILE and _names_file(spec.filename, name)
        for mixer in request.outputs
        for spec in mixer.output
    )


def _names_file(template: str, name: str) -> bool:
    """A file name (or a later part of it), or a mode-1 template
    ("/d/{userid}.mp4") that names it."""
    if USER_SLOT not in template:
        return first_part_name(template) == first_part_name(name)
    head, _, tail = template.partition(USER_SLOT)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail)
