"""What a cluster keeps in Redis, and the scripts that change it atomically.

    cloudrec:workers              set of node ids that have registered
    cloudrec:worker:<id>          hash: cores, used, running, draining, address
                                  (expires unless the worker heartbeats)
    cloudrec:worker:<id>:reserved hash: job id -> cores reserved for it
    cloudrec:jobs:<id>            list: jobs placed on the worker, not yet taken
    cloudrec:recordings           hash: room -> the recording running there (JSON),
                                  for a control node that starts while they run

A worker's hash lapsing is its death certificate: nothing else needs to say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from cloudrec.contract import RecordJob, RunningRecording

PREFIX = "cloudrec:"
WORKERS = PREFIX + "workers"
RECORDINGS = PREFIX + "recordings"
# A worker heartbeats every HEARTBEAT_S; three missed and it is taken for dead.
HEARTBEAT_S = 1.0
HEARTBEAT_TTL_MS = 3000


def worker_key(node_id: str) -> str:
    return f"{PREFIX}worker:{node_id}"


def reserved_key(node_id: str) -> str:
    return f"{PREFIX}worker:{node_id}:reserved"


def jobs_key(node_id: str) -> str:
    return f"{PREFIX}jobs:{node_id}"


@dataclass(frozen=True)
class WorkerStatus:
    node_id: str
    cores: float  # what it offers
    used: float  # what it and its bots measured, in cores
    reserved: float  # placed jobs its measurement does not include yet
    running: int
    draining: bool
    address: str  # where its /metrics is served

    @property
    def free(self) -> float:
        return self.cores - self.used - self.reserved


@dataclass(frozen=True)
class Placed:
    """A placement's outcome: the worker, or why none (workers alive that take
    jobs, and the most cores any of them had free)."""

    worker: str | None
    alive: int
    most_free: float


# Chooses the live, undrained worker with the most free cores that fits the
# job, reserves the cost on it and queues the job, all in one step: two control
# nodes placing at once cannot both fill the same room.
# KEYS: workers set. ARGV: job id, cost, job JSON, worker to avoid.
_PLACE = """
local best, best_free, alive, most_free = nil, -1, 0, 0
local cost = tonumber(ARGV[2])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = 'cloudrec:worker:' .. id
  local w = redis.call('HMGET', key, 'cores', 'used', 'draining')
  if not w[1] then
    redis.call('SREM', KEYS[1], id)
  elseif w[3] == '0' then
    alive = alive + 1
    local reserved = 0
    for _, c in ipairs(redis.call('HVALS', key .. ':reserved')) do
      reserved = reserved + tonumber(c)
    end
    local free = tonumber(w[1]) - tonumber(w[2]) - reserved
    if free > most_free then most_free = free end
    if id ~= ARGV[4] and free >= cost and free > best_free then
      best, best_free = id, free
    end
  end
end
if not best then
  return {false, alive, tostring(most_free)}
end
local reserved = 'cloudrec:worker:' .. best .. ':reserved'
redis.call('HSET', reserved, ARGV[1], ARGV[2])
redis.call('PEXPIRE', reserved, redis.call('PTTL', 'cloudrec:worker:' .. best))
redis.call('RPUSH', 'cloudrec:jobs:' .. best, ARGV[3])
return {best, alive, tostring(most_free)}
"""

# KEYS: workers set, the worker's hash, its reservations. ARGV: node id, TTL
# ms, then field/value pairs.
_HEARTBEAT = """
redis.call('SADD', KEYS[1], ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ClusterStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._place = redis.register_script(_PLACE)
        self._heartbeat = redis.register_script(_HEARTBEAT)

    async def place(self, job: RecordJob, avoid: str = "") -> Placed:
        raw = json.dumps(job.to_wire())
        best, alive, most_free = await self._place(
            keys=[WORKERS], args=[job.job_id, repr(job.cost), raw, avoid]
        )
        worker = best.decode() if isinstance(best, bytes) else None
        return Placed(worker, int(alive), float(most_free))

    async def heartbeat(self, status: WorkerStatus) -> None:
        fields: dict[str, Any] = {
            "cores": repr(status.cores),
            "used": repr(status.used),
            "running": status.running,
            "draining": int(status.draining),
            "address": status.address,
        }
        args: list[Any] = [status.node_id, HEARTBEAT_TTL_MS]
        for name, value in fields.items():
            args += [name, value]
        node = status.node_id
        await self._heartbeat(keys=[WORKERS, worker_key(node), reserved_key(node)], args=args)

    async def leave(self, node_id: str) -> None:
        """A worker that ends cleanly says so at once, rather than lapsing."""
        await self.redis.delete(worker_key(node_id), reserved_key(node_id), jobs_key(node_id))
        await self.redis.srem(WORKERS, node_id)

    async def alive(self, node_id: str) -> bool:
        return bool(await self.redis.exists(worker_key(node_id)))

    async def workers(self) -> list[WorkerStatus]:
        found = []
        for raw_id in sorted(await self.redis.smembers(WORKERS)):
            node = _text(raw_id)
            fields = await self.redis.hgetall(worker_key(node))
            if b"cores" not in fields:
                continue  # lapsed: the next placement forgets it
            reserved = await self.redis.hvals(reserved_key(node))
            found.append(
                WorkerStatus(
                    node,
                    float(fields[b"cores"]),
                    float(fields[b"used"]),
                    sum(float(c) for c in reserved),
                    int(fields[b"running"]),
                    fields[b"draining"] == b"1",
                    _text(fields.get(b"address", b"")),
                )
            )
        return found

    async def take_job(self, node_id: str, timeout_s: float) -> RecordJob | None:
        got = await self.redis.blpop([jobs_key(node_id)], timeout=timeout_s)
        if got is None:
            return None
        return RecordJob.from_wire(json.loads(got[1]))

    async def settled(self, node_id: str, job_id: str) -> None:
        """The job's cost is in the worker's measurement now, or it has ended."""
        await self.redis.hdel(reserved_key(node_id), job_id)

    async def remember(self, room: str, running: RunningRecording) -> None:
        await self.redis.hset(RECORDINGS, room, json.dumps(running.to_wire()))

    async def forget(self, room: str) -> None:
        await self.redis.hdel(RECORDINGS, room)

    async def remembered(self) -> dict[str, RunningRecording]:
        raw = await self.redis.hgetall(RECORDINGS)
        return {
            _text(room): RunningRecording.from_wire(json.loads(value))
            for room, value in raw.items()
        }
