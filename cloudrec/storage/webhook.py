"""Webhooks: each recording's lifecycle events, signed as Standard Webhooks
prescribes, and the SDK's RECORD_FINISH (SPEC §3) with its md5 signature.

Every notification is written to the outbox (cloudrec/storage/outbox.py)
before anything is sent, and a dispatcher sends them in the background: a
receiver that is slow or down never holds up or fails a recording, and what it
missed is sent once it is back, across restarts, in order within each
recording."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from cloudrec.auth import standard_webhook_signature, webhook_secret, webhook_signature
from cloudrec.config import Config
from cloudrec.storage.outbox import SDK, STANDARD, Delivery, Outbox

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
# Retries back off from the first delay, doubling up to the longest, for as
# long as a delivery is younger than GIVE_UP_S (a receiver down for a day
# gets everything once back; past that its events are marked given up).
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 300.0
GIVE_UP_S = 24 * 3600.0
# With nothing due, the dispatcher looks at the outbox again this often anyway.
IDLE_S = 60.0
# Deliveries of different recordings in flight at once.
MAX_IN_FLIGHT = 8


def retry_delay(attempts: int) -> float:
    """After ``attempts`` failed tries (1, 2, ...)."""
    return min(LONGEST_RETRY_S, FIRST_RETRY_S * 2.0 ** (attempts - 1))


def signing_key(config: Config) -> str:
    return config.webhook_secret or webhook_secret(config.api_secret)


class Webhook:
    def __init__(self, config: Config, outbox: Outbox | None) -> None:
        """Sends nothing without an outbox (there is one with a webhook URL)."""
        self._url = config.webhook_url
        self._comp_id = config.api_key
        self._comp_secret = config.api_secret
        self._key = signing_key(config)
        self._outbox = outbox
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._sending: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0

    @property
    def pending(self) -> int:
        """Deliveries not yet taken by the receiver nor given up on."""
        return self._outbox.pending() if self._outbox is not None else 0

    def deliveries(self, state: str | None, offset: int, limit: int) -> tuple[list[Delivery], int]:
        """What the outbox holds, newest first, with the total."""
        if self._outbox is None:
            return [], 0
        return self._outbox.page(state, offset, limit)

    # -- what is told ----------------------------------------------------------------

    def event(self, kind: str, stream: str, data: dict[str, Any]) -> None:
        """A lifecycle event; ``stream`` names the recording it belongs to, whose
        events are delivered in the order they happened."""
        if self._outbox is None:
            return
        msg_id = "msg_" + secrets.token_hex(12)
        when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"id": msg_id, "type": kind, "timestamp": when, "data": data}
        self._outbox.add(msg_id, stream, kind, STANDARD, _compact(body))
        self._wake.set()

    def record_finished(self, stream: str, room: str, dir_path: str, file_name: str) -> None:
        """The SDK's RECORD_FINISH, in order with its recording's events."""
        if self._outbox is None:
            return
        when = str(int(time.time()))
        body = {
            "EventType": "RECORD_FINISH",
            "Time": when,
            "Signature": webhook_signature(self._comp_id, self._comp_secret, when),
            "Details": {"RoomId": room, "DirPath": dir_path, "FileName": file_name},
        }
        msg_id = "sdk_" + secrets.token_hex(12)
        self._outbox.add(msg_id, stream, "RECORD_FINISH", SDK, _compact(body))
        self._wake.set()

    # -- sending ---------------------------------------------------------------------

    def start(self) -> None:
        """Sends what the outbox holds, including what a previous run left."""
        if self._outbox is not None:
            self._dispatcher = asyncio.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        assert self._outbox is not None
        while True:
            self._wake.clear()
            now = time.time()
            waits = [IDLE_S]
            for head in self._outbox.heads():
                if head.seq in self._sending:
                    continue
                if head.next_at > now:
                    waits.append(head.next_at - now)
                elif len(self._sending) < MAX_IN_FLIGHT:
                    self._sending[head.seq] = asyncio.create_task(self._send(head))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(waits))

    async def _send(self, delivery: Delivery) -> None:
        assert self._outbox is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
        headers = {"Content-Type": "application/json"}
        if delivery.form == STANDARD:
            stamp = int(time.time())
            headers |= {
                "webhook-id": delivery.id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": standard_webhook_signature(
                    self._key, delivery.id, stamp, delivery.body
                ),
            }
        try:
            try:
                async with self._session.post(
                    self._url, data=delivery.body, headers=headers
                ) as resp:
                    error = "" if resp.status < 300 else f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = str(exc) or type(exc).__name__
            self._settle(delivery, error)
        finally:
            self._sending.pop(delivery.seq, None)
            self._wake.set()

    def _settle(self, delivery: Delivery, error: str) -> None:
        assert self._outbox is not None
        if not error:
            self._outbox.delivered(delivery.seq)
            self.delivered += 1
            return
        attempts = delivery.attempts + 1
        now = time.time()
        if now - delivery.created_at > GIVE_UP_S:
            log.error("webhook %s (%s) given up: %s", delivery.id, delivery.type, error)
            self._outbox.failed(delivery.seq, error, None)
            return
        log.warning("webhook %s try %d to %s failed: %s", delivery.type, attempts, self._url, error)
        self._outbox.failed(delivery.seq, error, now + retry_delay(attempts))

    async def close(self) -> None:
        """Stops sending; what is not delivered stays in the outbox for next time."""
        tasks = [t for t in (self._dispatcher, *self._sending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._outbox is not None:
            self._outbox.close()


def _compact(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
