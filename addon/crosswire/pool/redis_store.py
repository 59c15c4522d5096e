"""The shared store: several crosswire instances (e.g. one sidecar per pod) share one pool.

Per key: a hash (secret fingerprint, cooldown, disabled flag and reason, learnt limits,
counters), a sorted set of leases scored by expiry (a crashed instance's leases lapse; the
pool refreshes its running ones), a sorted set of request starts (the rpm window) and one of
token reservations (the tpm window). Acquire and settle are one Lua script each (``redis_lua``):
every check and the lease happen atomically, in one round trip however many keys are tried.
A settle publishes the backend's name so that requests waiting in other instances for a free
slot wake at once rather than at their next poll.

All keys of a backend share one hash tag (``crosswire:{backend}:…``), so the scripts also run
on Redis Cluster. The client is redis-py's asyncio client; the two scripts a request runs go
through ``redis_wire`` (one pipelined connection, commands joined from pre-encoded parts), so
a request costs one round trip to acquire and one to settle, and little Python around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import redis.asyncio as aioredis

from crosswire.pool.buckets import Bucket
from crosswire.pool.model import LATENCY_BUCKETS, KeySpec, KeyState, RouteUsage
from crosswire.pool.redis_lua import ACQUIRE, SETTLE
from crosswire.pool.redis_wire import Lane, Script, bulk
from crosswire.pool.store import (
    Ask,
    Candidate,
    Refusal,
    Settlement,
    Wakeups,
    bucket_view,
    latency_index,
)

log = logging.getLogger(__name__)

#: Seconds to connect to Redis, and for one command, before the pool falls back.
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 2.0
#: Leases live this long without a heartbeat (the pool refreshes running ones every third):
#: a crashed instance's slots come back within this time.
REDIS_LEASE_TTL = 30.0
_WINDOW = 60.0


class RedisStore:
    shared = True
    lease_ttl = REDIS_LEASE_TTL

    def __init__(self, url: str, *, prefix: str = "crosswire:") -> None:
        # Bounded waits: an unreachable Redis must fail fast (the pool then serves from its
        # own state for a while) instead of holding every request. The wake-up channel has
        # its own client, as it blocks on reads by design.
        self._url = url
        self._redis = aioredis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
        )
        self._prefix = prefix
        self._channel = f"{prefix}freed"
        self._acquire = Script(ACQUIRE)
        self._settle = Script(SETTLE)
        self._lane = Lane(
            url,
            connect_timeout=CONNECT_TIMEOUT,
            timeout=COMMAND_TIMEOUT,
            scripts=(self._acquire, self._settle),
        )
        # Encoded once: a candidate's key names and limits, a key's and a route's names.
        self._cand: dict[tuple[str, Candidate], tuple[bytes, bytes]] = {}
        self._settle_keys: dict[tuple[str, str, str], bytes] = {}
        self._freed = Wakeups()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    def _tag(self, backend: str) -> str:
        return f"{self._prefix}{{{backend}}}"

    def _names(self, backend: str, key: str) -> list[str]:
        base = f"{self._tag(backend)}:k:{key}"
        return [f"{base}:state", f"{base}:leases", f"{base}:starts", f"{base}:toks"]

    # ---- acquire / settle ---------------------------------------------------------------

    async def acquire(
        self, backend: str, keys: Sequence[Candidate], ask: Ask
    ) -> str | list[Refusal]:
        head: tuple[str | int, ...] = (
            repr(ask.now),
            ask.lease_id,
            ask.est_tokens,
            repr(ask.ttl),
            int(ask.least_busy),
            int(ask.session is not None),
            repr(ask.sticky_ttl),
            len(keys),
        )
        parts = [self._candidate(backend, c) for c in keys]
        command = self._acquire.command(
            [bulk(f"{self._tag(backend)}:s:{ask.session or ''}"), *(p[0] for p in parts)],
            1 + 4 * len(keys),
            [*map(bulk, head), *(p[1] for p in parts)],
            len(head) + 6 * len(keys),
        )
        reply = await self._lane.run(self._acquire, command)
        if reply[0] == "ok":
            return str(reply[1])
        return [
            Refusal(
                str(reply[i]),
                str(reply[i + 1]),
                float(reply[i + 2]) if reply[i + 2] else None,
                str(reply[i + 3]),
            )
            for i in range(1, len(reply), 4)
        ]

    def _candidate(self, backend: str, c: Candidate) -> tuple[bytes, bytes]:
        """A candidate's four key names and six arguments, encoded once per config."""
        got = self._cand.get((backend, c))
        if got is None:
            if len(self._cand) > 10_000:  # reloads leave old candidates behind
                self._cand.clear()
            spec = c.spec
            names = b"".join(map(bulk, self._names(backend, spec.name)))
            args: tuple[str | int, ...] = (
                spec.name,
                c.fp,
                spec.max_concurrency or 0,
                spec.rpm or 0,
                spec.tpm or 0,
                repr((spec.pace_ms or 0) / 1000),
            )
            got = self._cand[(backend, c)] = (names, b"".join(map(bulk, args)))
        return got

    async def settle(self, backend: str, key: str, lease_id: str, s: Settlement) -> None:
        usage = s.usage
        backoff = s.backoff
        route = s.route or ""
        buckets = ""
        if s.buckets:
            buckets = json.dumps({fid: None if b is None else b.as_list() for fid, b in s.buckets})
        args: tuple[Any, ...] = (
            lease_id,
            repr(s.now),
            int(s.sent),
            s.est_tokens,
            "" if s.tokens is None else s.tokens,
            "" if s.status is None else s.status,
            int(s.error),
            usage.input if usage else 0,
            usage.output if usage else 0,
            usage.cached if usage else 0,
            repr(s.latency),
            latency_index(s.latency, LATENCY_BUCKETS),
            route,
            "" if s.cool_until is None else repr(s.cool_until),
            s.cool_reason or "",
            "" if backoff is None else repr(backoff[0]),
            "" if backoff is None else repr(backoff[1]),
            "" if backoff is None else repr(backoff[2]),
            s.disable or "",
            int(s.success),
            int(s.failure),
            buckets,
            self._channel,
            backend,
        )
        names = self._settle_keys.get((backend, key, route))
        if names is None:
            if len(self._settle_keys) > 10_000:
                self._settle_keys.clear()
            tag = self._tag(backend)
            names = b"".join(
                map(bulk, [*self._names(backend, key), f"{tag}:routes", f"{tag}:r:{route}"])
            )
            self._settle_keys[(backend, key, route)] = names
        command = self._settle.command([names], 6, map(bulk, args), len(args))
        await self._lane.run(self._settle, command)
        self._freed.wake(backend)

    async def heartbeat(
        self, backend: str, leases: Sequence[tuple[str, str]], until: float, ttl: float
    ) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key in {key for key, _ in leases}:  # the set outlives every lease in it
            pipe.expire(self._names(backend, key)[1], math.ceil(ttl * 2) + 60)
        for key, lease_id in leases:
            pipe.zadd(self._names(backend, key)[1], {lease_id: until}, xx=True)
        await pipe.execute()

    # ---- health -------------------------------------------------------------------------

    async def disable(self, backend: str, key: str, reason: str) -> None:
        await self._redis.hset(
            self._names(backend, key)[0], mapping={"disabled": "1", "disabled_reason": reason}
        )

    async def enable(self, backend: str, key: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._names(backend, key)[0], mapping={"disabled": "0", "disabled_reason": ""})
        pipe.publish(self._channel, backend)
        await pipe.execute()
        self._freed.wake(backend)

    # ---- visibility ---------------------------------------------------------------------

    async def states(self, backend: str, keys: Sequence[KeySpec], now: float) -> list[KeyState]:
        pipe = self._redis.pipeline(transaction=False)
        for spec in keys:
            h, leases, starts, toks = self._names(backend, spec.name)
            pipe.hgetall(h)
            pipe.zcount(leases, f"({now}", "+inf")
            pipe.zcount(starts, f"({now - _WINDOW}", "+inf")
            pipe.zrangebyscore(toks, f"({now - _WINDOW}", "+inf")
        replies = await pipe.execute()
        out = []
        for n, spec in enumerate(keys):
            data, in_flight, rpm_used, tok_members = replies[4 * n : 4 * n + 4]
            raw = json.loads(data.get("buckets") or "{}")
            req, tok, cooling, reason = bucket_view(
                [Bucket.from_list(v) for v in raw.values()],
                now,
                float(data.get("cooling_until") or 0),
                data.get("cooldown_reason") or None,
            )
            status = data.get("last_status")
            out.append(
                KeyState(
                    backend=backend,
                    name=spec.name,
                    in_flight=int(in_flight),
                    max_concurrency=spec.max_concurrency,
                    cooling_until=cooling,
                    cooldown_reason=reason,
                    disabled=data.get("disabled") == "1",
                    disabled_reason=data.get("disabled_reason") or None,
                    requests=int(data.get("requests", 0)),
                    errors=int(data.get("errors", 0)),
                    input_tokens=int(data.get("input_tokens", 0)),
                    output_tokens=int(data.get("output_tokens", 0)),
                    cached_tokens=int(data.get("cached_tokens", 0)),
                    rpm_used=int(rpm_used),
                    rpm_limit=spec.rpm,
                    tpm_used=round(sum(float(m.rsplit(":", 1)[-1]) for m in tok_members)),
                    tpm_limit=spec.tpm,
                    remaining_requests=req,
                    remaining_tokens=tok,
                    last_status=int(status) if status else None,
                    latency_sum=float(data.get("lat_sum", 0.0)),
                    latency_count=int(data.get("lat_count", 0)),
                    latency_buckets=list(
                        accumulate(
                            int(data.get(f"lat_{i}", 0)) for i in range(len(LATENCY_BUCKETS))
                        )
                    ),
                )
            )
        return out

    async def routes(self, backends: Sequence[str]) -> list[RouteUsage]:
        pipe = self._redis.pipeline(transaction=False)
        for backend in backends:
            pipe.smembers(f"{self._tag(backend)}:routes")
        members = await pipe.execute()
        pairs = [(r, b) for b, rs in zip(backends, members, strict=True) for r in sorted(rs)]
        pipe = self._redis.pipeline(transaction=False)
        for route, backend in pairs:
            pipe.hgetall(f"{self._tag(backend)}:r:{route}")
        out = []
        for (route, backend), data in zip(pairs, await pipe.execute(), strict=True):
            out.append(
                RouteUsage(
                    route,
                    backend,
                    **{f: int(data.get(f, 0)) for f in _ROUTE_FIELDS},
                )
            )
        return sorted(out, key=lambda r: (r.route, r.backend))

    # ---- waiting ------------------------------------------------------------------------

    async def wait_freed(self, backend: str, timeout: float) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        await self._freed.wait(backend, timeout)

    async def _listen(self) -> None:
        """Wake local waiters when any instance ends a lease (``PUBLISH`` in the settle
        script). Waiters also re-check on a short timer, so a lost message only delays."""
        client = aioredis.from_url(
            self._url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT
        )
        try:
            await self._relay_wakeups(client)
        finally:
            await client.aclose()

    async def _relay_wakeups(self, client: aioredis.Redis) -> None:
        delay = 1.0
        while True:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                delay = 1.0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._freed.wake(str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if delay == 1.0:
                    log.warning("crosswire: pool wake-up channel lost (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        await self._lane.close()
        await self._redis.aclose()


_ROUTE_FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens")
