"""Rate limits: messages per connection, joins per address. Token buckets,
pure apart from the clock the caller passes in."""

from __future__ import annotations

from dataclasses import dataclass

# A connection may send this many times its per-second rate at once: a page
# that joins, publishes and trickles its ICE candidates sends a few dozen
# messages within a second, then next to nothing.
MESSAGE_BURST_SECONDS = 4
# Addresses remembered for join limits; past it the idlest are forgotten (an
# address forgotten has a full bucket again, which errs on letting people in).
MAX_TRACKED_ADDRESSES = 10_000


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # the most it holds
    tokens: float
    at: float  # when ``tokens`` was counted

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def message_bucket(per_second: int, now: float) -> TokenBucket:
    return TokenBucket.full(per_second, per_second * MESSAGE_BURST_SECONDS, now)


class JoinLimiter:
    """Joins per remote address: ``per_minute`` on average, as many at once."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, address: str, now: float) -> bool:
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_ADDRESSES:
                self._forget_idlest()
            bucket = self._buckets[address] = TokenBucket.full(
                self._per_minute / 60, self._per_minute, now
            )
        return bucket.take(now)

    def _forget_idlest(self) -> None:
        by_age = sorted(self._buckets.items(), key=lambda item: item[1].at)
        for address, _ in by_age[: len(by_age) // 2]:
            del self._buckets[address]
