"""Where the pool's state lives: this process (``MemoryStore``) or Redis (``RedisStore``).

Both stores run the same two steps, each atomic, so that instances sharing Redis can never
together exceed a key's budget:

* ``acquire``: given the backend's candidate keys in the strategy's order, put the session's
  sticky key first (and, for least-busy, the rest by in-flight count), then check each key —
  secret fingerprint, disabled, cooling, in-flight leases, rpm/tpm windows, the provider's
  learnt limits, pacing — and lease the first that every check allows. One step (in Redis one
  Lua script, one round trip), however many keys are tried.
* ``settle``: end the lease and apply what the answer taught (usage, cooldowns, learnt limits,
  disabled flag). One step too.

In-flight counts are leases with an expiry, refreshed by the pool while the request runs: a
crashed instance's leases lapse instead of holding slots forever.

This module is the protocol both stores implement; ``factory.make_store`` picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from crosswire.pool.buckets import Bucket
from crosswire.pool.model import KeySpec, KeyState, RouteUsage, TokenUsage

#: Refusals that last a moment: a sticky session keeps its key through them.
MOMENTARY = ("busy", "pace")
#: Sticky sessions remembered per backend by the memory store (least recently used dropped).
STICKY_MAX = 50_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A key as the store sees it; ``fp`` fingerprints name and secret, so a key whose secret
    changed starts clean (its disabled flag and cooldowns were about the old secret)."""

    spec: KeySpec
    fp: str


@dataclass(slots=True)
class Ask:
    now: float
    lease_id: str
    est_tokens: int
    ttl: float
    least_busy: bool
    session: str | None
    sticky_ttl: float


@dataclass(slots=True)
class Refusal:
    key: str
    verdict: str
    retry_at: float | None
    detail: str = ""


@dataclass(slots=True)
class Settlement:
    """How a lease ends. ``sent`` False: never sent (rpm/tpm reservations given back).
    ``backoff`` (base, cap, jitter factor): cool for ``min(cap, base·2^(streak-1))·jitter``
    where streak counts the key's consecutive failures (``failure``) — the store keeps it."""

    now: float
    sent: bool
    est_tokens: int
    tokens: int | None = None
    status: int | None = None
    error: bool = False
    usage: TokenUsage | None = None
    latency: float = 0.0
    route: str | None = None
    cool_until: float | None = None
    backoff: tuple[float, float, float] | None = None
    cool_reason: str | None = None
    disable: str | None = None
    success: bool = False
    failure: bool = False
    buckets: tuple[tuple[str, Bucket | None], ...] = ()


class Store(Protocol):
    #: State visible to other processes (the pool then refreshes its leases while they run).
    shared: bool
    #: How long a lease lives without a heartbeat.
    lease_ttl: float

    async def acquire(
        self, backend: str, keys: Sequence[Candidate], ask: Ask
    ) -> str | list[Refusal]:
        """The leased key's name, or why each key was refused."""
        ...

    async def settle(self, backend: str, key: str, lease_id: str, s: Settlement) -> None: ...

    async def heartbeat(
        self, backend: str, leases: Sequence[tuple[str, str]], until: float, ttl: float
    ) -> None:
        """Extend running leases ``(key, lease id)`` to ``until`` (= now + ``ttl``)."""
        ...

    async def disable(self, backend: str, key: str, reason: str) -> None: ...

    async def enable(self, backend: str, key: str) -> None:
        """Clear the disabled flag (a probe succeeded). Cooldowns stay: a key that
        authenticates again may still be out of quota."""
        ...

    async def states(self, backend: str, keys: Sequence[KeySpec], now: float) -> list[KeyState]: ...

    async def routes(self, backends: Sequence[str]) -> list[RouteUsage]: ...

    async def wait_freed(self, backend: str, timeout: float) -> None:
        """Return when a lease of ``backend`` ends (or a key comes back), or after ``timeout``."""
        ...

    async def close(self) -> None: ...


def bucket_view(
    buckets: Iterable[Bucket], now: float, cooling_until: float, reason: str | None
) -> tuple[float | None, float | None, float | None, str | None]:
    """What learnt limits mean for a snapshot: remaining requests, remaining tokens, and the
    cooldown shown — the key's own while it lasts (``cooling_until`` past or 0: none), and a
    limit with nothing left counts as cooling until it has room for one."""
    cooling: float | None = cooling_until
    if cooling_until <= now:
        cooling, reason = None, None
    req: float | None = None
    tok: float | None = None
    for b in buckets:
        if now >= b.expires:
            continue
        left = b.available(now)
        shown = float(math.floor(left))
        if b.need == "req":
            req = shown if req is None else min(req, shown)
        else:
            tok = shown if tok is None else min(tok, shown)
        if left < 1:
            at = b.ready_at(1.0)
            if cooling is None or at > cooling:
                cooling, reason = at, f"provider {b.what} limit reached"
    return req, tok, cooling, reason


def latency_index(seconds: float, bounds: Sequence[float]) -> int:
    """The histogram bucket of a duration (``len(bounds)`` = above every bound)."""
    for i, bound in enumerate(bounds):
        if seconds <= bound:
            return i
    return len(bounds)


class Wakeups:
    """Per backend, the event that requests waiting for a free key sleep on: set (and
    replaced) when a lease ends or a key comes back, so every waiter re-tries at once."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def wake(self, backend: str) -> None:
        event = self._events.pop(backend, None)
        if event is not None:
            event.set()

    async def wait(self, backend: str, timeout: float) -> None:
        event = self._events.get(backend)
        if event is None:
            event = self._events[backend] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
