"""The impairing relay on its own: two plain UDP sockets stand for a publisher
and a recorder, and what reaches the recorder is counted and timed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cloudrec.impair import Impairment, Relay

AUDIO_PT, VIDEO_PT = 111, 96
WAIT_S = 5.0
PACKETS = 400
SEED = 3
# Seeded draws: the share lost over PACKETS lands this close to the chance.
SHARE_WITHIN = 0.07
STUN = b"\x00\x01" + bytes(18)  # a binding request's first bytes: not media
DTLS = bytes([22, 254, 253]) + bytes(10)
END = b"\x00\x01end" + bytes(16)  # STUN-like: passes untouched, after what went before


def offer(port: int) -> str:
    return "\r\n".join(
        [
            "v=0",
            f"m=audio {port} UDP/TLS/RTP/SAVPF {AUDIO_PT}",
            f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host",
            f"m=video {port} UDP/TLS/RTP/SAVPF {VIDEO_PT}",
            f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host",
            "",
        ]
    )


def rtp(pt: int, n: int) -> bytes:
    return bytes([0x80, pt]) + n.to_bytes(2, "big") + bytes(8)


@dataclass
class Ends:
    """The publisher's and the recorder's sockets, joined through the relay."""

    publisher: socket.socket
    recorder: socket.socket
    to_relay: tuple[str, int]  # where the publisher sends: the relay

    async def received(self, count: int) -> list[tuple[float, bytes]]:
        """What the recorder gets, with when: ``count`` datagrams, or up to
        the END marker (not media, so never lost or held back)."""
        loop = asyncio.get_running_loop()
        got: list[tuple[float, bytes]] = []
        while len(got) < count:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.recorder, 2048), WAIT_S)
            if data == END:
                break
            got.append((loop.time(), data))
        return got


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def joined(relay: Relay) -> AsyncIterator[Ends]:
    """The recorder reaches the publisher first, as a recorder whose answer
    names no candidate does; the publisher answers to where that came from."""
    loop = asyncio.get_running_loop()
    publisher, recorder = _socket(), _socket()
    try:
        rewritten = relay.offer(offer(publisher.getsockname()[1]))
        (port,) = {int(line.split()[5]) for line in rewritten.split("\r\n") if "candidate" in line}
        await loop.sock_sendto(recorder, STUN, ("127.0.0.1", port))
        data, relay_side = await asyncio.wait_for(loop.sock_recvfrom(publisher, 2048), WAIT_S)
        assert data == STUN, "ICE passes as it is"
        yield Ends(publisher, recorder, relay_side)
    finally:
        publisher.close()
        recorder.close()


async def send(ends: Ends, packets: list[bytes], gap_s: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    for packet in packets:
        await loop.sock_sendto(ends.publisher, packet, ends.to_relay)
        # The sender's pacing (none: a yield, so that the relay and the
        # recorder read as it sends, and no socket's buffer overflows).
        await asyncio.sleep(gap_s)


async def test_loss_falls_on_the_kind_it_is_set_for_and_never_on_ice_or_dtls() -> None:
    async with Relay(audio=Impairment(loss=0.5), seed=SEED) as relay, joined(relay) as ends:
        sent = [rtp(AUDIO_PT, n) for n in range(PACKETS)] + [rtp(VIDEO_PT, n) for n in range(50)]
        receiving = asyncio.create_task(ends.received(len(sent) + 1))
        await send(ends, [DTLS, *sent, END])
        got = [data for _, data in await receiving]
    assert got[0] == DTLS
    audio = [d for d in got if d[1] == AUDIO_PT]
    video = [d for d in got if d[1] == VIDEO_PT]
    assert len(video) == 50
    assert abs(len(audio) / PACKETS - 0.5) < SHARE_WITHIN
    assert relay.counts["audio"].dropped == PACKETS - len(audio)
    assert relay.counts["video"].dropped == 0


async def test_losses_come_in_bursts_when_asked() -> None:
    bursty = Impairment(loss=0.05, burst=0.8)
    async with Relay(video=bursty, seed=SEED) as relay, joined(relay) as ends:
        receiving = asyncio.create_task(ends.received(PACKETS))
        await send(ends, [*(rtp(VIDEO_PT, n) for n in range(PACKETS)), END])
        got = {int.from_bytes(d[2:4], "big") for _, d in await receiving}
    lost = sorted(set(range(PACKETS)) - got)
    runs = sum(1 for i, n in enumerate(lost) if i == 0 or lost[i - 1] != n - 1)
    # A loss goes on with a chance of 0.8: runs of five on average, not one.
    assert runs and len(lost) / runs > 2.5, lost
    assert relay.counts["video"].dropped == len(lost)


async def test_delay_jitter_and_reordering() -> None:
    late = Impairment(delay_s=0.050, jitter_s=0.010, reorder=0.3, reorder_s=0.030)
    async with Relay(audio=late, seed=SEED) as relay, joined(relay) as ends:
        loop = asyncio.get_running_loop()
        began = loop.time()
        count = 100
        receiving = asyncio.create_task(ends.received(count))
        await send(ends, [rtp(AUDIO_PT, n) for n in range(count)], gap_s=0.002)
        got = await receiving
    assert len(got) == count and relay.counts["audio"].passed == count
    assert min(at for at, _ in got) >= began + 0.040, "held the delay less the jitter"
    order = [int.from_bytes(d[2:4], "big") for _, d in got]
    assert order != sorted(order), "some were held back behind later ones"
