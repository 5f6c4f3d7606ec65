"""RECORD_FINISH notifications (SPEC §3), retried with backoff in the background;
a receiver that is slow or down never holds up or fails a recording."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from cloudrec.auth import webhook_signature

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
REQUEST_TIMEOUT_S = 10.0


class Webhook:
    def __init__(self, url: str, comp_id: str, comp_secret: str) -> None:
        self._url = url
        self._comp_id = comp_id
        self._comp_secret = comp_secret
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0

    @property
    def pending(self) -> int:
        """Deliveries still being tried."""
        return len(self._tasks)

    def record_finished(self, room: str, dir_path: str, file_name: str) -> None:
        if not self._url:
            return
        when = str(int(time.time()))
        body = {
            "EventType": "RECORD_FINISH",
            "Time": when,
            "Signature": webhook_signature(self._comp_id, self._comp_secret, when),
            "Details": {"RoomId": room, "DirPath": dir_path, "FileName": file_name},
        }
        task = asyncio.create_task(self._deliver(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, body: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S)):
            await asyncio.sleep(delay)
            try:
                async with self._session.post(self._url, json=body) as resp:
                    if resp.status < 300:
                        self.delivered += 1
                        return
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            log.warning("webhook attempt %d to %s failed: %s", attempt + 1, self._url, reason)
        log.error("webhook for %s given up", body["Details"]["FileName"])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
