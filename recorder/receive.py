"""An event loop that reads received datagrams in batches.

A recorder receives every packet of the room, ~300 a second for 4 parties at
360p15, spread over one UDP socket per publisher. Woken for each one, the loop
runs aiortc's receive path (ICE, SRTP, RTP parsing, jitter buffer) from a cold
cache each time, in between the mixer and decoders and the publishers: in a
profile, per-packet work that costs microseconds in a tight loop took tens.
This loop stops watching its UDP sockets and instead, every ``batch_s``, reads
each one dry and hands the datagrams to their protocols, so the same code runs
for several packets at once, warm, and the thread wakes a few dozen times a
second instead of hundreds.

What it costs is delay: a packet waits at most ``batch_s`` longer (half that on
average) before it is processed; a recorder holds media for 150-200 ms anyway,
and audio and video wait alike. Only sockets made through
``create_datagram_endpoint`` are batched (in a recorder, aioice's); TCP is not.

When a packet arrived is still known to the microsecond: the kernel stamps
each datagram (SO_TIMESTAMPNS), and :func:`arrival_time` gives the stamp of
the one being handled. Timed by when its batch was read instead, a sender's
packets would seem to wait 0 to ``batch_s`` by the phase of their pacing
against the batches, and a sender whose clock runs a little fast turns that
phase: its least delay (recorder/arrival.py) would drop by a packet's spacing
every 20 ms of drift, and its sound step against its picture.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# 40 ms: 25 batches a second however many publishers, 20 ms of added delay on
# average; shorter batches cost more CPU, longer ones saved no more, and
# aiortc's bandwidth estimates were unchanged (bench/README.md has the runs).
# The audio buffers' playout delay (recorder/audio.py) covers a batch.
BATCH_S = 0.040
# The largest UDP payload; asyncio reads datagrams with the same bound. Each is
# read into one buffer and copied out at its size: recvfrom(MAX_DATAGRAM)
# allocates the whole bound for every datagram, which took 14 us a 1100-byte
# datagram against 1.5 (bench/README.md).
MAX_DATAGRAM = 256 * 1024
# Datagrams read from one socket per batch at most, so one flooded socket
# cannot hold the loop: what is left waits for the next batch (or the kernel
# drops it when its buffer fills, as it would for a loop that fell behind).
MAX_PER_BATCH = 256
# What the kernel holds for a socket between reads: a burst must fit in one
# batch's wait. The usual default (208 KiB of accounted memory) is about 90
# full-size datagrams, and a sharp 1080p keyframe alone can be more. The kernel
# caps this at net.core.rmem_max; raising that is the operator's call.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
# Linux's SO_TIMESTAMPNS (asm-generic/socket.h; Python does not name it): each
# datagram comes with when it arrived, a struct timespec on the real-time clock.
# The kernel turns the stamps on for the whole system a moment after the first
# socket asks: a datagram that comes before then is stamped when read, as it
# would be known without stamps (at most the first few of a call's ICE checks).
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("qq")
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size)


def arrival_time() -> float:
    """When the datagram being handled now arrived, on the event loop's clock
    (``time.monotonic()``): as the kernel stamped it, where a batched loop
    read it; else now."""
    arrived = getattr(asyncio.get_running_loop(), "arrived_at", None)
    return time.monotonic() if arrived is None else arrived


@dataclass
class _Endpoint:
    transport: asyncio.DatagramTransport
    protocol: asyncio.DatagramProtocol
    sock: socket.socket  # a duplicate of the transport's, closed with it
    stamped: bool  # whether the kernel stamps its datagrams' arrival


class BatchedReceiveLoop(asyncio.SelectorEventLoop):
    """A selector loop whose datagram endpoints are read every ``batch_s``
    instead of when a datagram arrives; everything else is as usual."""

    def __init__(self, batch_s: float = BATCH_S) -> None:
        super().__init__()
        self._batch_s = batch_s
        self._endpoints: dict[int, _Endpoint] = {}  # by the duplicate's descriptor
        # Which endpoints hold datagrams: only those are read, so that a batch
        # costs no failing read on each quiet socket (a publisher's unused
        # candidates, a pause), which took a fifth of the receive path.
        self._readable = select.epoll()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.datagrams_received = 0  # over the loop's life, for the bot's stats
        self._buffer = memoryview(bytearray(MAX_DATAGRAM))
        # The arrival of the datagram its protocol is handed now (arrival_time).
        self.arrived_at: float | None = None

    async def create_datagram_endpoint(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.DatagramProtocol], *args: Any, **kwargs: Any
    ) -> tuple[asyncio.DatagramTransport, asyncio.DatagramProtocol]:
        transport, protocol = await super().create_datagram_endpoint(
            protocol_factory, *args, **kwargs
        )
        own = transport.get_extra_info("socket")
        if own is not None and not transport.is_closing():
            # asyncio hands out a wrapper that cannot read; a duplicate of the
            # descriptor reads the same socket (and shares its non-blocking mode).
            sock = socket.socket(own.family, own.type, own.proto, fileno=socket.dup(own.fileno()))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                stamped = True
            except OSError:  # not Linux: timed by the batch, as it is read
                stamped = False
            transport.pause_reading()  # type: ignore[attr-defined]
            self._endpoints[sock.fileno()] = _Endpoint(transport, protocol, sock, stamped)
            self._readable.register(sock.fileno(), select.EPOLLIN)
            if self._timer is None:
                self._due = self.time() + self._batch_s
                self._timer = self.call_at(self._due, self._drain)
        return transport, protocol

    @property
    def batched_endpoints(self) -> int:
        """How many datagram endpoints are read in batches now."""
        return len(self._endpoints)

    def _drain(self) -> None:
        self._timer = None
        for fd, endpoint in list(self._endpoints.items()):
            if endpoint.transport.is_closing():
                self._forget(fd)
        # The kernel's stamps are real-time; the loop's clock is monotonic.
        to_loop = self.time() - time.time()
        for fd, _ in self._readable.poll(0):
            endpoint = self._endpoints[fd]
            self.datagrams_received += self._read(endpoint, to_loop)
        if self._endpoints:
            # On a fixed grid rather than batch_s after each drain: the drain's
            # own length would make the period drift against the senders'
            # 20 ms packets, and their packets would keep changing batch (one
            # in a batch, then three), which the audio buffers feel as jitter.
            self._due += self._batch_s
            if self._due <= self.time():  # fell a whole batch behind: a new grid
                self._due = self.time() + self._batch_s
            self._timer = self.call_at(self._due, self._drain)

    def _read(self, endpoint: _Endpoint, to_loop: float) -> int:
        """Hands what the socket holds to its protocol, as asyncio would, each
        datagram's arrival told by ``arrived_at``; returns how many."""
        buffer = self._buffer
        try:
            for count in range(MAX_PER_BATCH):
                try:
                    if endpoint.stamped:
                        size, ancillary, _flags, addr = endpoint.sock.recvmsg_into(
                            [buffer], _ANCILLARY_BYTES
                        )
                        self.arrived_at = _arrival(ancillary, to_loop)
                    else:
                        size, addr = endpoint.sock.recvfrom_into(buffer)
                    data = bytes(buffer[:size])
                except (BlockingIOError, InterruptedError):
                    return count
                except OSError as exc:
                    # An ICMP error for an earlier send, reported as asyncio reports it.
                    endpoint.protocol.error_received(exc)
                    return count
                try:
                    endpoint.protocol.datagram_received(data, addr)
                except Exception:
                    # One bad datagram must not stop the batch (asyncio's loop logs it too).
                    log.exception("a protocol failed on a received datagram")
            return MAX_PER_BATCH
        finally:
            self.arrived_at = None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in list(self._endpoints):
            self._forget(fd)
        self._readable.close()
        super().close()

    def _forget(self, fd: int) -> None:
        # Out of epoll before the close: the original descriptor keeps the
        # socket open, and epoll would go on reporting the closed number.
        self._readable.unregister(fd)
        self._endpoints.pop(fd).sock.close()


def _arrival(ancillary: list[tuple[int, int, bytes]], to_loop: float) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds + nanoseconds * 1e-9 + to_loop)
    return None
