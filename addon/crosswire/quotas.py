"""Per-client request and token counters for client quotas (``clients:`` in the config).

In this process's memory, or in Redis when ``state: redis://…`` so that several instances
share one quota; while Redis cannot be reached they count locally (logged once) rather than
refuse every request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("crosswire")


class Quotas:
    """Per-client request and token counters: in memory, or in Redis shared by instances
    (falling back to memory, with a log line, while Redis cannot be reached)."""

    def __init__(self, state: str, prefix: str = "crosswire:client:") -> None:
        self._local: dict[str, list[int]] = {}
        self._prefix = prefix
        self._redis: Any = None
        if state != "memory":
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(state, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._warned = False

    @property
    def shared(self) -> bool:
        """Counted in Redis: every check is a round trip (so never from inside the HTTP layer)."""
        return self._redis is not None

    async def take_request(self, name: str, limit: int | None) -> bool:
        """Count one request; False (and nothing counted) when ``limit`` is already used."""
        if self._redis is not None:
            try:
                key = f"{self._prefix}{name}:requests"
                count = int(await self._redis.incr(key))
                if limit is not None and count > limit:
                    await self._redis.decr(key)
                    return False
                return True
            except Exception as exc:
                self._degraded(exc)
        return self.take_request_now(name, limit)

    def take_request_now(self, name: str, limit: int | None) -> bool:
        """``take_request`` in this process's memory."""
        counts = self._local.setdefault(name, [0, 0])
        if limit is not None and counts[0] >= limit:
            return False
        counts[0] += 1
        return True

    async def tokens(self, name: str) -> int:
        if self._redis is not None:
            try:
                return int(await self._redis.get(f"{self._prefix}{name}:tokens") or 0)
            except Exception as exc:
                self._degraded(exc)
        return self.tokens_now(name)

    def tokens_now(self, name: str) -> int:
        """``tokens`` in this process's memory."""
        return self._local.get(name, [0, 0])[1]

    async def add_tokens(self, name: str, tokens: int) -> None:
        if tokens <= 0:
            return
        if self._redis is not None:
            try:
                await self._redis.incrby(f"{self._prefix}{name}:tokens", tokens)
                return
            except Exception as exc:
                self._degraded(exc)
        self._local.setdefault(name, [0, 0])[1] += tokens

    async def usage(self, names: Sequence[str]) -> dict[str, dict[str, int]]:
        out = {}
        for name in names:
            requests = self._local.get(name, [0, 0])[0]
            if self._redis is not None:
                try:
                    requests = int(await self._redis.get(f"{self._prefix}{name}:requests") or 0)
                except Exception as exc:
                    self._degraded(exc)
            out[name] = {"requests": requests, "tokens": await self.tokens(name)}
        return out

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _degraded(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("crosswire: client quotas count locally, Redis failed: %s", exc)
            self._warned = True
