"""A UDP relay that impairs media on its way: seeded loss (alone or in
bursts), delay, jitter and reordering, set apart for audio and video.

What a real network does to a recording, on one machine: the relay sits
between a publisher and the recorder, on loopback. It owns two sockets: the
publisher is told (in the recorder's answer) that the recorder is at one, the
recorder is told (in the publisher's offer) that the publisher is at the
other, and each datagram that reaches one leaves from the other. Only media
is impaired (RTP and RTCP, RFC 7983's first-byte ranges); ICE and DTLS pass
untouched, so a connection always comes up. RTP is told audio from video by
the payload types the offer gives each m-line.

A recorder's answer may name no candidate of its own (a server can keep the
recorder's addresses to itself): the recorder then reaches the publisher
first, at the relay, and the relay learns where the recorder is from that.

A publisher takes it through ``Participant(..., route=relay)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
from dataclasses import dataclass, field
from typing import Any

# RFC 7983: a first byte in 128-191 is RTP or RTCP; RTCP's payload types are 192-223.
_RTP_FIRST = range(128, 192)
_RTCP_TYPES = range(192, 224)
_HOST_CANDIDATE = re.compile(
    r"^a=candidate:\S+ 1 udp \d+ (?P<ip>[\d.]+) (?P<port>\d+) typ host", re.MULTILINE
)
_MEDIA = re.compile(r"^m=(?P<kind>audio|video) \d+ \S+ (?P<types>[\d ]+)\r?$", re.MULTILINE)
_RESEND = re.compile(r"^a=rtpmap:(?P<type>\d+) rtx/", re.MULTILINE)
LOOPBACK = "127.0.0.1"
KINDS = ("audio", "video")


@dataclass(frozen=True)
class Impairment:
    """What happens to one kind of media. ``loss``: the chance a datagram is
    dropped where the one before was not; ``burst``: the chance it is where
    the one before was (None: the same, so losses are independent and
    ``loss`` is the share lost; higher: losses come in runs).
    ``delay_s`` plus a uniform ``jitter_s`` either way (never below zero);
    ``reorder``: the chance a datagram is held back ``reorder_s`` more;
    ``resend_loss``: the chance a retransmission (RFC 4588) is dropped, in
    place of ``loss``: 1 loses every lost packet for good."""

    loss: float = 0.0
    burst: float | None = None
    delay_s: float = 0.0
    jitter_s: float = 0.0
    reorder: float = 0.0
    reorder_s: float = 0.030
    resend_loss: float = 0.0


NONE = Impairment()


@dataclass
class Counts:
    passed: int = 0
    dropped: int = 0


@dataclass
class _Direction:
    """One way through the relay, with its own random stream per kind."""

    audio: Impairment
    video: Impairment
    rng: random.Random
    lost_last: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(KINDS, False))
    cut_until: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    counts: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})


class Relay:
    """``to_recorder``: what media from the publisher suffers, per kind;
    ``to_publisher``: what the recorder's (RTCP, a preview) suffers."""

    def __init__(
        self,
        *,
        audio: Impairment = NONE,
        video: Impairment = NONE,
        back: Impairment = NONE,
        seed: int = 0,
    ) -> None:
        self._forward = _Direction(audio, video, random.Random(seed))
        self._back = _Direction(back, back, random.Random(seed + 1))
        self._audio_types: set[int] = set()
        self._resend_types: set[int] = set()
        self._publisher: tuple[str, int] | None = None
        self._recorder: tuple[str, int] | None = None
        self._facing_publisher: socket.socket | None = None
        self._facing_recorder: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def cut(self, kind: str, seconds: float) -> None:
        """Drops every datagram of ``kind`` on the way to the recorder for the
        next ``seconds``, retransmissions too: an outage, which no
        retransmission can mend once the sender no longer holds what was lost."""
        assert self._loop is not None, "the relay is not running"
        self._forward.cut_until[kind] = self._loop.time() + seconds

    @property
    def counts(self) -> dict[str, Counts]:
        """Datagrams passed and dropped on the way to the recorder, per kind."""
        return self._forward.counts

    async def __aenter__(self) -> Relay:
        self._loop = asyncio.get_running_loop()
        self._facing_publisher = self._bind()
        self._facing_recorder = self._bind()
        self._loop.add_reader(self._facing_publisher, self._from_publisher)
        self._loop.add_reader(self._facing_recorder, self._from_recorder)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for sock in (self._facing_publisher, self._facing_recorder):
            if sock is not None and self._loop is not None:
                self._loop.remove_reader(sock)
                sock.close()

    @staticmethod
    def _bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        sock.setblocking(False)
        return sock

    # -- the route: what each side is told of the other ---------------------------

    def offer(self, sdp: str) -> str:
        """The publisher's offer as the recorder gets it: the publisher at the
        relay's socket facing the recorder."""
        self._publisher = _first_host(sdp)
        if self._publisher is None:
            raise ValueError("the offer names no UDP host candidate to relay to")
        for match in _MEDIA.finditer(sdp):
            if match["kind"] == "audio":
                self._audio_types |= {int(t) for t in match["types"].split()}
        self._resend_types = {int(m["type"]) for m in _RESEND.finditer(sdp)}
        assert self._facing_recorder is not None, "the relay is not running"
        return _only_candidate(sdp, self._facing_recorder.getsockname()[1])

    def answer(self, sdp: str) -> str:
        """The recorder's answer as the publisher gets it: the recorder at the
        relay's socket facing the publisher (where it names itself at all)."""
        found = _first_host(sdp)
        if found is None:
            return sdp
        self._recorder = found
        assert self._facing_publisher is not None, "the relay is not running"
        return _only_candidate(sdp, self._facing_publisher.getsockname()[1])

    # -- datagrams ------------------------------------------------------------------

    def _from_publisher(self) -> None:
        assert self._facing_publisher is not None and self._facing_recorder is not None
        for data, source in _drain(self._facing_publisher):
            self._publisher = source  # where its replies go: where it sends from
            if self._recorder is not None:
                self._pass(self._forward, data, self._facing_recorder, self._recorder)

    def _from_recorder(self) -> None:
        assert self._facing_publisher is not None and self._facing_recorder is not None
        for data, source in _drain(self._facing_recorder):
            self._recorder = source  # where the publisher's media goes: where it sends from
            if self._publisher is not None:
                self._pass(self._back, data, self._facing_publisher, self._publisher)

    def _pass(self, way: _Direction, data: bytes, out: socket.socket, to: tuple[str, int]) -> None:
        kind = self._kind(data)
        if kind is None:  # ICE, DTLS: as they are, at once
            _send(out, data, to)
            return
        impairment = way.audio if kind == "audio" else way.video
        rng = way.rng
        burst = impairment.burst
        chance = burst if burst is not None and way.lost_last[kind] else impairment.loss
        if data[1] not in _RTCP_TYPES and data[1] & 0x7F in self._resend_types:
            chance = impairment.resend_loss
        assert self._loop is not None
        lost = rng.random() < chance or self._loop.time() < way.cut_until[kind]
        way.lost_last[kind] = lost
        counts = way.counts[kind]
        if lost:
            counts.dropped += 1
            return
        counts.passed += 1
        delay = impairment.delay_s + rng.uniform(-1, 1) * impairment.jitter_s
        if rng.random() < impairment.reorder:
            delay += impairment.reorder_s
        delay = max(0.0, delay)
        if delay == 0:
            _send(out, data, to)
        else:
            self._loop.call_later(delay, _send, out, data, to)

    def _kind(self, data: bytes) -> str | None:
        if len(data) < 2 or data[0] not in _RTP_FIRST:
            return None
        if data[1] in _RTCP_TYPES:
            return "video"  # RTCP: reports, NACKs, PLIs, on the video path's terms
        return "audio" if (data[1] & 0x7F) in self._audio_types else "video"


def _first_host(sdp: str) -> tuple[str, int] | None:
    match = _HOST_CANDIDATE.search(sdp)
    return (match["ip"], int(match["port"])) if match is not None else None


def _only_candidate(sdp: str, port: int) -> str:
    """``sdp`` with one candidate per m-line: the relay's socket on ``port``
    (an m-line left with none leaves aiortc, answering, with none of its own)."""
    lines, placed = [], False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            placed = False
        elif line.startswith("a=candidate:"):
            if placed:
                continue
            placed = True
            line = f"a=candidate:relay 1 udp 2130706431 {LOOPBACK} {port} typ host"
        lines.append(line)
    return "\r\n".join(lines)


def _drain(sock: socket.socket) -> list[tuple[bytes, Any]]:
    got = []
    while True:
        try:
            got.append(sock.recvfrom(65536))
        except (BlockingIOError, InterruptedError):
            return got


def _send(sock: socket.socket, data: bytes, to: tuple[str, int]) -> None:
    # Closed, or the far side gone: lost, as a network would lose it.
    with contextlib.suppress(OSError):
        sock.sendto(data, to)
