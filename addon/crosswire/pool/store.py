"""Where the pool's state lives: this process (``MemoryStore``) or Redis (``RedisStore``).

Each operation on one key is atomic in both stores — check cooldown, disabled flag, in-flight
leases, rpm/tpm windows and pacing, and take the lease, in one step — so two instances sharing
Redis can never together exceed a key's budget. In-flight counts are leases with an expiry: a
crashed instance's leases lapse instead of holding slots forever.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from crosswire.pool.model import KeySpec, TokenUsage

#: try_acquire verdicts
OK = "ok"


class Store(Protocol):
    async def try_acquire(
        self, backend: str, key: KeySpec, lease_id: str, now: float, est_tokens: int, ttl: float
    ) -> tuple[str, float | None]:
        """(verdict, retry_at): ``ok``, or why not (disabled/cooling/busy/rpm/tpm/pace) and
        when it may work again (None = unknown, e.g. busy or disabled)."""
        ...

    async def release(
        self, backend: str, key: str, lease_id: str, now: float, est_tokens: int, tokens: int | None
    ) -> None: ...

    async def cool(self, backend: str, key: str, until: float, reason: str) -> None: ...

    async def disable(self, backend: str, key: str, reason: str) -> None: ...

    async def enable(self, backend: str, key: str) -> None: ...

    async def record(
        self,
        backend: str,
        key: str,
        status: int | None,
        usage: TokenUsage | None,
        error: bool,
        route: str | None,
    ) -> None: ...

    async def states(self, backend: str, keys: list[str], now: float) -> list[dict[str, Any]]: ...

    async def in_flight(self, backend: str, keys: list[str], now: float) -> dict[str, int]: ...

    async def sticky_get(self, session: str) -> str | None: ...

    async def sticky_set(self, session: str, key: str, ttl: float) -> None: ...

    async def forget(self, backend: str, key: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Key:
    leases: dict[str, float] = field(default_factory=dict)  # lease id -> expiry
    starts: deque[float] = field(default_factory=deque)  # request starts, for rpm
    tokens: deque[list[Any]] = field(default_factory=deque)  # [time, lease id, tokens], for tpm
    last_start: float = 0.0
    cooling_until: float = 0.0
    cooldown_reason: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    last_status: int | None = None


class MemoryStore:
    """The default: plain dicts on mitmproxy's single event-loop thread (no locks needed as no
    operation awaits in the middle)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], _Key] = {}
        self._sticky: dict[str, tuple[str, float]] = {}
        self.routes: dict[str, dict[str, int]] = {}

    def _key(self, backend: str, name: str) -> _Key:
        k = self._keys.get((backend, name))
        if k is None:
            k = self._keys[(backend, name)] = _Key()
        return k

    async def try_acquire(
        self, backend: str, key: KeySpec, lease_id: str, now: float, est_tokens: int, ttl: float
    ) -> tuple[str, float | None]:
        k = self._key(backend, key.name)
        if k.disabled:
            return "disabled", None
        if k.cooling_until > now:
            return "cooling", k.cooling_until
        if k.leases:
            for lid in [lid for lid, exp in k.leases.items() if exp <= now]:
                del k.leases[lid]
        if key.max_concurrency is not None and len(k.leases) >= key.max_concurrency:
            return "busy", None
        if key.rpm is not None:
            while k.starts and k.starts[0] <= now - 60:
                k.starts.popleft()
            if len(k.starts) >= key.rpm:
                return "rpm", k.starts[0] + 60
        if key.tpm is not None:
            while k.tokens and k.tokens[0][0] <= now - 60:
                k.tokens.popleft()
            used = sum(t[2] for t in k.tokens)
            if used + est_tokens > key.tpm and k.tokens:
                return "tpm", k.tokens[0][0] + 60
        if key.pace_ms and now - k.last_start < key.pace_ms / 1000:
            return "pace", k.last_start + key.pace_ms / 1000
        k.leases[lease_id] = now + ttl
        if key.rpm is not None:
            k.starts.append(now)
        if key.tpm is not None:
            k.tokens.append([now, lease_id, est_tokens])
        k.last_start = now
        return OK, None

    async def release(
        self, backend: str, key: str, lease_id: str, now: float, est_tokens: int, tokens: int | None
    ) -> None:
        k = self._key(backend, key)
        k.leases.pop(lease_id, None)
        if tokens is not None:
            for entry in k.tokens:
                if entry[1] == lease_id:
                    entry[2] = tokens
                    break

    async def cool(self, backend: str, key: str, until: float, reason: str) -> None:
        k = self._key(backend, key)
        if until > k.cooling_until:
            k.cooling_until, k.cooldown_reason = until, reason

    async def disable(self, backend: str, key: str, reason: str) -> None:
        k = self._key(backend, key)
        k.disabled, k.disabled_reason = True, reason

    async def enable(self, backend: str, key: str) -> None:
        k = self._key(backend, key)
        k.disabled, k.disabled_reason, k.cooling_until, k.cooldown_reason = False, None, 0.0, None

    async def record(
        self,
        backend: str,
        key: str,
        status: int | None,
        usage: TokenUsage | None,
        error: bool,
        route: str | None,
    ) -> None:
        k = self._key(backend, key)
        k.requests += 1
        k.errors += int(error)
        k.last_status = status
        if usage is not None:
            k.input_tokens += usage.input
            k.output_tokens += usage.output
            k.cached_tokens += usage.cached
        if route:
            r = self.routes.setdefault(
                route, {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0}
            )
            r["requests"] += 1
            r["errors"] += int(error)
            if usage is not None:
                r["input_tokens"] += usage.input
                r["output_tokens"] += usage.output

    async def states(self, backend: str, keys: list[str], now: float) -> list[dict[str, Any]]:
        out = []
        for name in keys:
            k = self._key(backend, name)
            out.append(
                {
                    "in_flight": sum(1 for exp in k.leases.values() if exp > now),
                    "cooling_until": k.cooling_until if k.cooling_until > now else None,
                    "cooldown_reason": k.cooldown_reason if k.cooling_until > now else None,
                    "disabled": k.disabled,
                    "disabled_reason": k.disabled_reason,
                    "requests": k.requests,
                    "errors": k.errors,
                    "input_tokens": k.input_tokens,
                    "output_tokens": k.output_tokens,
                    "cached_tokens": k.cached_tokens,
                    "rpm_used": sum(1 for t in k.starts if t > now - 60),
                    "tpm_used": sum(t[2] for t in k.tokens if t[0] > now - 60),
                    "last_status": k.last_status,
                }
            )
        return out

    async def in_flight(self, backend: str, keys: list[str], now: float) -> dict[str, int]:
        return {
            n: sum(1 for exp in self._key(backend, n).leases.values() if exp > now) for n in keys
        }

    async def sticky_get(self, session: str) -> str | None:
        import time

        found = self._sticky.get(session)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    async def sticky_set(self, session: str, key: str, ttl: float) -> None:
        import time

        if len(self._sticky) > 10_000:  # bounded: drop the oldest half
            for s, _ in sorted(self._sticky.items(), key=lambda kv: kv[1][1])[:5_000]:
                del self._sticky[s]
        self._sticky[session] = (key, time.time() + ttl)

    async def forget(self, backend: str, key: str) -> None:
        self._keys.pop((backend, key), None)

    async def close(self) -> None:
        pass


def make_store(spec: str, *, prefix: str = "crosswire:") -> Store:
    """``memory`` or ``redis://…`` (also ``rediss://``, ``unix://``)."""
    if spec == "memory":
        return MemoryStore()
    from crosswire.pool.redis_store import RedisStore

    return RedisStore(spec, prefix=prefix)
