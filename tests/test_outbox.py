"""The webhook outbox: one delivery at a time per stream, in order, durable."""

from __future__ import annotations

import time
from pathlib import Path

from cloudrec.storage.outbox import DELIVERED, GIVEN_UP, PENDING, STANDARD, Outbox
from cloudrec.storage.webhook import LONGEST_RETRY_S, retry_delay


def test_each_stream_sends_its_oldest_first_and_the_rest_wait(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "index.sqlite3")
    for msg, stream in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")):
        outbox.add(msg, stream, "t", STANDARD, "{}")
    assert [d.id for d in outbox.heads()] == ["a1", "b1"]
    a1, b1 = outbox.heads()
    outbox.failed(a1.seq, "HTTP 503", time.time() + 60)
    outbox.delivered(b1.seq)
    assert [d.id for d in outbox.heads()] == ["a1", "b2"], "a2 waits behind a1's retry"
    outbox.failed(a1.seq, "gone", None)
    assert [d.id for d in outbox.heads()] == ["a2", "b2"], "given up, the next goes"
    outbox.close()

    reopened = Outbox(tmp_path / "index.sqlite3")  # as after a restart
    states = {d.id: (d.state, d.attempts, d.last_error) for d in reopened.page(None, 0, 10)[0]}
    assert states == {
        "a1": (GIVEN_UP, 2, "gone"),
        "b1": (DELIVERED, 1, ""),
        "a2": (PENDING, 0, ""),
        "b2": (PENDING, 0, ""),
    }
    assert reopened.pending() == 2


def test_retries_back_off_to_a_ceiling() -> None:
    delays = [retry_delay(n) for n in range(1, 15)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays) and delays[-1] == LONGEST_RETRY_S
