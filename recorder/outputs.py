"""Recording files written through PyAV, crash-safe from the first second.

MP4 is written fragmented (a self-contained fragment at least every second and
each flushed to disk at once), so a process killed mid-way leaves a file that
plays up to its last fragment; ts, flv and mkv are streamable by nature.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.container

from cloudrec.config import DEFAULT_X264_PRESET
from cloudrec.contract import OutputInfo
from cloudrec.storage.fragments import FRAGMENTED_MP4, trim_to_whole_fragments
from cloudrec.storage.paths import HLS_SEGMENT_PATTERN, segment_dir, segments
from cloudrec.wire import AudioCfg, AudioFormat, OutputSpec, OutputState, VideoCfg

AUDIO_RATE = 48_000
AUDIO_BIT_RATE = 128_000
# Fragments (and mkv clusters) this long bound what a kill can lose.
FRAGMENT_MS = 500

_FORMATS = {
    "mp4": "mp4",
    "ts": "mpegts",
    "flv": "flv",
    "mkv": "matroska",
    "m4a": "mp4",
    "mp3": "mp3",
    "wav": "wav",
    "m3u8": "hls",
}
_AUDIO_ENCODERS = {
    AudioFormat.AAC: "aac",
    AudioFormat.MP3: "libmp3lame",
    AudioFormat.PCM: "pcm_s16le",
}
_MP4_OPTIONS = {
    # delay_moov: the header waits for the first fragment, so it knows the
    # streams' first timestamps and writes the edit list that hides AAC's
    # priming; without it audio plays 21 ms (1024 samples) late.
    "movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof",
    "frag_duration": str(FRAGMENT_MS * 1000),
}
_FORMAT_OPTIONS = {
    **dict.fromkeys(FRAGMENTED_MP4, _MP4_OPTIONS),
    "mkv": {"cluster_time_limit": str(FRAGMENT_MS), "live": "1"},
}


class Output(Protocol):
    """A destination of one mixer's encoded mix: a file, or a live push."""

    @property
    def mixer_id(self) -> str: ...
    @property
    def spec(self) -> OutputSpec: ...
    @property
    def state(self) -> OutputState: ...

    def write_video(self, frame: av.VideoFrame) -> None: ...
    def write_audio(self, frame: av.AudioFrame) -> None: ...
    def close(self) -> None: ...
    def fail(self, code: int) -> None: ...
    def info(self) -> OutputInfo: ...


HLS_SEGMENT_S = 2


def hls_options(playlist: Path) -> dict[str, str]:
    """An event playlist that grows as segments are written and ends with
    EXT-X-ENDLIST on close, so it plays both live and afterwards. Segments go
    into the playlist's own folder (reserved with it, storage/paths.py), which
    the playlist names relative to itself."""
    folder = segment_dir(playlist)
    return {
        "hls_time": str(HLS_SEGMENT_S),
        "hls_list_size": "0",
        "hls_playlist_type": "event",
        "hls_base_url": folder.name + "/",
        "hls_segment_filename": str(folder / HLS_SEGMENT_PATTERN),
    }


# Presets whose motion search is narrowed from x264's hexagon to the diamond
# that superfast and ultrafast use: veryfast costs clearly less CPU that way
# for a fraction of a percent more bits at the same quality (bench/README.md
# has the measurements). Slower presets are an operator's choice of quality over CPU and keep their
# own search.
DIAMOND_SEARCH_PRESETS = frozenset({"veryfast"})


def add_h264(
    container: av.container.OutputContainer,
    video: VideoCfg,
    gop: int,
    preset: str = DEFAULT_X264_PRESET,
) -> av.video.stream.VideoStream:
    stream = container.add_stream("libx264", rate=video.frame_rate)
    stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
    stream.time_base = Fraction(1, video.frame_rate)
    stream.codec_context.gop_size = gop
    stream.codec_context.options = x264_options(video, preset)
    return stream


def add_audio(
    container: av.container.OutputContainer, audio: AudioCfg
) -> av.audio.stream.AudioStream:
    encoder = _AUDIO_ENCODERS[audio.format]
    layout = "mono" if audio.channels == 1 else "stereo"
    stream = container.add_stream(encoder, rate=AUDIO_RATE, layout=layout)
    if not isinstance(stream, av.audio.stream.AudioStream):
        raise TypeError(f"{encoder} is not an audio encoder")
    if audio.format is not AudioFormat.PCM:
        stream.bit_rate = AUDIO_BIT_RATE
    stream.time_base = Fraction(1, AUDIO_RATE)
    if audio.format is AudioFormat.AAC:
        # The 'fast' coder: a third of the default's CPU at the same bitrate;
        # what it gives up matters for music masters, not meeting speech.
        stream.codec_context.options = {"aac_coder": "fast"}
    return stream


def x264_options(video: VideoCfg, preset: str = DEFAULT_X264_PRESET) -> dict[str, str]:
    """Capped CRF: defaultQP sets the quality, bitRate caps the rate (VBV), gop the
    longest keyframe interval. zerolatency drops lookahead and B-frames, so each
    frame leaves the encoder at once: a kill loses one fragment, not a lookahead
    more, and live pushes gain no delay. One thread per encoder: on a small machine
    many recordings in parallel use the cores better than frame threads in each."""
    options = {
        "preset": preset,
        "tune": "zerolatency",
        "crf": str(video.default_qp),
        "maxrate": str(video.bit_rate),
        "bufsize": str(video.bit_rate * 2),
        "threads": "1",
    }
    if preset in DIAMOND_SEARCH_PRESETS:
        options["x264-params"] = "me=dia"
    return options


class FileOutput:
    """One file: its own encoders and container. Not thread-safe; one writer thread."""

    def __init__(
        self,
        mixer_id: str,
        spec: OutputSpec,
        path: Path,
        video: VideoCfg | None,
        audio: AudioCfg | None,
        x264_preset: str = DEFAULT_X264_PRESET,
    ) -> None:
        self.mixer_id = mixer_id
        self.spec = spec
        self.path = path
        self.video_cfg = video
        self.state = OutputState.NONE
        self.err_code = 0
        self._video_frames = 0
        self._audio_samples = 0
        options = {
            **_FORMAT_OPTIONS.get(spec.container, {}),
            **(hls_options(path) if spec.container == "m3u8" else {}),
            "flush_packets": "1",
            # AAC's priming delay starts audio before zero; shifting both streams
            # together keeps every video frame exactly 1/frameRate long (otherwise
            # fragmented MP4 stretches the first frame by the delay).
            "avoid_negative_ts": "make_non_negative",
        }
        self._container: av.container.OutputContainer = av.open(
            str(path), "w", format=_FORMATS[spec.container], options=options
        )
        self._video: av.video.stream.VideoStream | None = None
        if video is not None:
            # HLS cuts segments at keyframes: a keyframe at least every segment.
            gop = (
                min(video.gop, video.frame_rate * HLS_SEGMENT_S)
                if spec.container == "m3u8"
                else video.gop
            )
            self._video = add_h264(self._container, video, gop, x264_preset)
        self._audio: av.audio.stream.AudioStream | None = None
        if audio is not None:
            self._audio = add_audio(self._container, audio)
        self.state = OutputState.CREATED

    def write_video(self, frame: av.VideoFrame) -> None:
        """``frame.pts`` is the output tick; the frame must be ours to modify."""
        if self._video is None:
            return
        self._container.mux(self._video.encode(frame))
        self._video_frames = max(self._video_frames, (frame.pts or 0) + 1)
        self.state = OutputState.WRITING

    def write_audio(self, frame: av.AudioFrame) -> None:
        if self._audio is None:
            return
        self._container.mux(self._audio.encode(frame))
        self._audio_samples = (frame.pts or 0) + frame.samples
        self.state = OutputState.WRITING

    def close(self) -> None:
        """Flushes the encoders and finalises the container; safe to call twice."""
        if self.state in (OutputState.CLOSED, OutputState.ERR):
            return
        try:
            for stream in (self._video, self._audio):
                if stream is not None:
                    self._container.mux(stream.encode(None))
        finally:
            self._container.close()
        self.state = OutputState.CLOSED

    def fail(self, code: int) -> None:
        """Ends this output after an error, keeping what was written playable."""
        self.err_code = code
        # A close that fails leaves the file as complete as it can get.
        with contextlib.suppress(OSError, av.FFmpegError):
            self._container.close()
        if self.spec.container in FRAGMENTED_MP4:
            with contextlib.suppress(OSError):
                trim_to_whole_fragments(self.path)
        self.state = OutputState.ERR

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def audio_frame_size(self) -> int:
        """Samples in a frame of the sound's codec (0: any number, as PCM)."""
        return self._audio.codec_context.frame_size if self._audio is not None else 0

    @property
    def size(self) -> int:
        """Bytes written so far (a playlist: itself alone)."""
        with contextlib.suppress(OSError):
            return os.path.getsize(self.path)
        return 0

    @property
    def duration_ms(self) -> int:
        """The video's length where there is video (audio may run a frame over)."""
        if self.video_cfg is not None:
            return self._video_frames * 1000 // self.video_cfg.frame_rate
        return self._audio_samples * 1000 // AUDIO_RATE

    def info(self) -> OutputInfo:
        files = [self.path, *segments(self.path)]
        size = 0
        for file in files:
            with contextlib.suppress(OSError):
                size += os.path.getsize(file)
        return OutputInfo(
            self.mixer_id, self.spec.filename, self.state, self.duration_ms, size, self.err_code
        )
