"""The batching event loop: datagrams arrive whole, in order and together; a
closed endpoint is let go; real aiortc peers connect and carry media over it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from aiortc import AudioStreamTrack, RTCConfiguration, RTCPeerConnection

from recorder.receive import SO_TIMESTAMPNS, BatchedReceiveLoop, arrival_time

# Long enough that a burst sent right after the endpoint opens lands before the
# first read; still short enough to keep the test quick.
SLOW_BATCH_S = 0.2
TIMEOUT_S = 10.0


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, expected: int, fail_on: bytes = b"") -> None:
        self.received: list[bytes] = []
        self.seen_together: list[int] = []  # how many had arrived when each batch ended
        self.done = asyncio.Event()
        self._expected = expected
        self._fail_on = fail_on

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data == self._fail_on:
            raise RuntimeError("a protocol that fails on one datagram")
        self.received.append(data)
        # Runs once the whole batch has been handed over.
        asyncio.get_running_loop().call_soon(lambda: self.seen_together.append(len(self.received)))
        if len(self.received) == self._expected:
            self.done.set()


def _run(main: Callable[[BatchedReceiveLoop], Coroutine[Any, Any, None]], batch_s: float) -> None:
    with asyncio.Runner(loop_factory=lambda: BatchedReceiveLoop(batch_s)) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, BatchedReceiveLoop)
        runner.run(main(loop))


def test_a_burst_is_handed_over_in_one_batch_in_order() -> None:
    async def main(loop: BatchedReceiveLoop) -> None:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Collector(5, fail_on=b"bad"), local_addr=("127.0.0.1", 0)
        )
        assert isinstance(protocol, _Collector)
        assert loop.batched_endpoints == 1
        assert not transport.is_reading()  # type: ignore[attr-defined]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for data in (b"0", b"1", b"bad", b"2", b"3", b"4"):
                sender.sendto(data, transport.get_extra_info("sockname"))
        await asyncio.wait_for(protocol.done.wait(), TIMEOUT_S)
        # The failing datagram did not stop the ones after it.
        assert protocol.received == [b"0", b"1", b"2", b"3", b"4"]
        assert loop.datagrams_received == 6  # the failing one was received too
        await asyncio.wait_for(_until(lambda: bool(protocol.seen_together)), TIMEOUT_S)
        assert protocol.seen_together[0] == 5
        transport.close()
        await asyncio.wait_for(_until(lambda: loop.batched_endpoints == 0), TIMEOUT_S)

    _run(main, SLOW_BATCH_S)


# Between two datagrams of one batch: they are handled together, and each is
# still known by when it came.
APART_S = 0.08
# The kernel's stamp against our own reading of the clock around the send.
STAMP_WITHIN_S = 0.005
# How long a probe waits to be read: a stamp that early is the kernel's.
PROBE_WAIT_S = 0.02


@contextlib.contextmanager
def _kernel_stamping() -> Iterator[None]:
    """Holds the kernel's arrival stamps on. Linux turns them on for the whole
    system a moment after the first socket asks (a deferred static key), and
    stamps a datagram that came before then when it is read: with no other
    stamping socket open, this test's first datagram read as its batch's time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            sent = time.time()
            probe.sendto(b"probe", probe.getsockname())
            time.sleep(PROBE_WAIT_S)  # the stimulus: read well after it came
            _, ancillary, _, _ = probe.recvmsg(16, socket.CMSG_SPACE(16))
            seconds, nanoseconds = struct.unpack_from("qq", ancillary[0][2])
            if seconds + nanoseconds * 1e-9 < sent + PROBE_WAIT_S / 2:
                break
            assert time.monotonic() < deadline, "the kernel never stamped a datagram"
        yield


class _Stamped(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.seen: list[tuple[float, float]] = []  # (arrival_time(), handled at)
        self.two = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen.append((arrival_time(), time.monotonic()))
        if len(self.seen) == 2:
            self.two.set()


def test_each_datagram_is_known_by_when_it_came_not_when_its_batch_was_read() -> None:
    async def main(loop: BatchedReceiveLoop) -> None:
        with _kernel_stamping():
            await stamped_pair(loop)

    async def stamped_pair(loop: BatchedReceiveLoop) -> None:
        transport, protocol = await loop.create_datagram_endpoint(
            _Stamped, local_addr=("127.0.0.1", 0)
        )
        assert isinstance(protocol, _Stamped)
        # Each send between two readings of the clock: a loaded machine may
        # stall this thread on either side of the call, never inside the
        # stamp, which loopback takes within the call.
        sent: list[tuple[float, float]] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for data in (b"first", b"second"):
                before = time.monotonic()
                sender.sendto(data, transport.get_extra_info("sockname"))
                sent.append((before, time.monotonic()))
                time.sleep(APART_S)  # the stimulus: the loop is held, the batch not read
        await asyncio.wait_for(protocol.two.wait(), TIMEOUT_S)
        (first, first_handled), (second, second_handled) = protocol.seen
        assert abs(second_handled - first_handled) < APART_S / 2, "read in one batch"
        for stamp, (before, after) in zip((first, second), sent, strict=True):
            assert before - STAMP_WITHIN_S < stamp < after + STAMP_WITHIN_S, (stamp, before, after)
        assert abs(arrival_time() - time.monotonic()) < STAMP_WITHIN_S, "outside one: now"
        transport.close()

    _run(main, SLOW_BATCH_S)


GRID_BATCH_S = 0.05
# What each drain stands in for handling: 30 % of a batch. Scheduled a batch
# after each drain instead of on a grid, ten drains would fall 0.15 s behind.
HANDLING_S = 0.015
DRAINS = 10
# How late one wake-up may be on a loaded machine: far less than the 0.15 s
# that scheduling after each drain would have drifted by the last.
WAKE_UP_TOLERANCE_S = 0.05


class _TimedLoop(BatchedReceiveLoop):
    def __init__(self, batch_s: float) -> None:
        super().__init__(batch_s)
        self.drained_at: list[float] = []

    def _drain(self) -> None:
        self.drained_at.append(self.time())
        time.sleep(HANDLING_S)  # as if handing datagrams over took that long
        super()._drain()


def test_batches_keep_to_a_grid_however_long_each_takes() -> None:
    async def main(loop: _TimedLoop) -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        await asyncio.wait_for(_until(lambda: len(loop.drained_at) > DRAINS), TIMEOUT_S)
        transport.close()
        first = loop.drained_at[0]
        for k, at in enumerate(loop.drained_at[: DRAINS + 1]):
            # Each drain is off the grid by its own wake-up (the first's too),
            # never by the time the ones before it took.
            assert abs(at - (first + k * GRID_BATCH_S)) < WAKE_UP_TOLERANCE_S, k

    with asyncio.Runner(loop_factory=lambda: _TimedLoop(GRID_BATCH_S)) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, _TimedLoop)
        runner.run(main(loop))


def test_aiortc_peers_connect_and_carry_audio() -> None:
    async def main(loop: BatchedReceiveLoop) -> None:
        config = RTCConfiguration(iceServers=[])
        sender, receiver = RTCPeerConnection(config), RTCPeerConnection(config)
        received: asyncio.Future[None] = loop.create_future()

        async def read(track: object) -> None:
            await track.recv()  # type: ignore[attr-defined]
            if not received.done():
                received.set_result(None)

        receiver.on("track", lambda track: loop.create_task(read(track)))
        sender.addTrack(AudioStreamTrack())
        try:
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            assert loop.batched_endpoints >= 2  # each peer's ICE sockets
            await asyncio.wait_for(received, TIMEOUT_S)
        finally:
            await sender.close()
            await receiver.close()
        await asyncio.wait_for(_until(lambda: loop.batched_endpoints == 0), TIMEOUT_S)

    _run(main, 0.02)


async def _until(condition: Callable[[], bool]) -> None:
    """Polls ``condition`` every 10 ms until it holds (callers bound the wait):
    what it watches has no event to wait on."""
    while not condition():
        await asyncio.sleep(0.01)
