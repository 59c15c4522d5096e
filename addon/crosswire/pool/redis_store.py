"""The shared store: several crosswire instances (e.g. one sidecar per pod) share one pool.

Per key: a hash (cooldown, disabled flag and reason, counters), a sorted set of leases scored
by expiry (a crashed instance's leases lapse), a sorted set of request starts (rpm window) and
one of token reservations (tpm window). Taking a lease is one Lua script: every check and the
lease itself happen atomically, in one round trip. The client is redis-py's asyncio client.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from crosswire.pool.model import KeySpec, TokenUsage

_ACQUIRE = """
local h, leases, starts, toks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, lease, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local maxc, rpm, tpm = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local est, pace = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('HGET', h, 'disabled') == '1' then return {'disabled', ''} end
local cu = tonumber(redis.call('HGET', h, 'cooling_until') or '0')
if cu > now then return {'cooling', tostring(cu)} end
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
if maxc > 0 and redis.call('ZCARD', leases) >= maxc then return {'busy', ''} end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - 60)
  if redis.call('ZCARD', starts) >= rpm then
    local first = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')
    return {'rpm', tostring(tonumber(first[2]) + 60)}
  end
end
if tpm > 0 then
  redis.call('ZREMRANGEBYSCORE', toks, '-inf', now - 60)
  local all = redis.call('ZRANGE', toks, 0, -1, 'WITHSCORES')
  local used = 0
  for i = 1, #all, 2 do
    local n = string.match(all[i], ':(%d+)$')
    used = used + tonumber(n or '0')
  end
  if #all > 0 and used + est > tpm then return {'tpm', tostring(tonumber(all[2]) + 60)} end
end
if pace > 0 then
  local last = tonumber(redis.call('HGET', h, 'last_start') or '0')
  if now - last < pace then return {'pace', tostring(last + pace)} end
end
redis.call('ZADD', leases, now + ttl, lease)
if rpm > 0 then redis.call('ZADD', starts, now, lease) ; redis.call('EXPIRE', starts, 120) end
if tpm > 0 then redis.call('ZADD', toks, now, lease .. ':' .. est) ; redis.call('EXPIRE', toks, 120) end
redis.call('HSET', h, 'last_start', tostring(now))
return {'ok', ''}
"""

_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  local old = ARGV[1] .. ':' .. ARGV[2]
  local score = redis.call('ZSCORE', KEYS[2], old)
  if score then
    redis.call('ZREM', KEYS[2], old)
    redis.call('ZADD', KEYS[2], score, ARGV[1] .. ':' .. ARGV[3])
  end
end
return 1
"""


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "crosswire:") -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)

    def _names(self, backend: str, key: str) -> list[str]:
        base = f"{self._prefix}{backend}:{key}"
        return [f"{base}:state", f"{base}:leases", f"{base}:starts", f"{base}:tokens"]

    async def try_acquire(
        self, backend: str, key: KeySpec, lease_id: str, now: float, est_tokens: int, ttl: float
    ) -> tuple[str, float | None]:
        verdict, at = await self._acquire(
            keys=self._names(backend, key.name),
            args=[
                repr(now),
                lease_id,
                repr(ttl),
                key.max_concurrency or 0,
                key.rpm or 0,
                key.tpm or 0,
                est_tokens,
                (key.pace_ms or 0) / 1000,
            ],
        )
        return str(verdict), (float(at) if at else None)

    async def release(
        self, backend: str, key: str, lease_id: str, now: float, est_tokens: int, tokens: int | None
    ) -> None:
        names = self._names(backend, key)
        await self._release(
            keys=[names[1], names[3]], args=[lease_id, est_tokens, "" if tokens is None else tokens]
        )

    async def cool(self, backend: str, key: str, until: float, reason: str) -> None:
        h = self._names(backend, key)[0]
        current = float(await self._redis.hget(h, "cooling_until") or 0)
        if until > current:
            await self._redis.hset(
                h, mapping={"cooling_until": repr(until), "cooldown_reason": reason}
            )

    async def disable(self, backend: str, key: str, reason: str) -> None:
        await self._redis.hset(
            self._names(backend, key)[0], mapping={"disabled": "1", "disabled_reason": reason}
        )

    async def enable(self, backend: str, key: str) -> None:
        await self._redis.hset(
            self._names(backend, key)[0],
            mapping={
                "disabled": "0",
                "disabled_reason": "",
                "cooling_until": "0",
                "cooldown_reason": "",
            },
        )

    async def record(
        self,
        backend: str,
        key: str,
        status: int | None,
        usage: TokenUsage | None,
        error: bool,
        route: str | None,
    ) -> None:
        h = self._names(backend, key)[0]
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(h, "requests", 1)
        if error:
            pipe.hincrby(h, "errors", 1)
        pipe.hset(h, "last_status", "" if status is None else str(status))
        if usage is not None:
            pipe.hincrby(h, "input_tokens", usage.input)
            pipe.hincrby(h, "output_tokens", usage.output)
            pipe.hincrby(h, "cached_tokens", usage.cached)
        if route:
            r = f"{self._prefix}route:{route}"
            pipe.hincrby(r, "requests", 1)
            if error:
                pipe.hincrby(r, "errors", 1)
            if usage is not None:
                pipe.hincrby(r, "input_tokens", usage.input)
                pipe.hincrby(r, "output_tokens", usage.output)
        await pipe.execute()

    async def states(self, backend: str, keys: list[str], now: float) -> list[dict[str, Any]]:
        out = []
        for name in keys:
            h, leases, starts, toks = self._names(backend, name)
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(h)
            pipe.zcount(leases, now, "+inf")
            pipe.zcount(starts, now - 60, "+inf")
            pipe.zrangebyscore(toks, now - 60, "+inf")
            data, in_flight, rpm_used, tok_members = await pipe.execute()
            cooling = float(data.get("cooling_until") or 0)
            status = data.get("last_status")
            out.append(
                {
                    "in_flight": int(in_flight),
                    "cooling_until": cooling if cooling > now else None,
                    "cooldown_reason": (data.get("cooldown_reason") or None)
                    if cooling > now
                    else None,
                    "disabled": data.get("disabled") == "1",
                    "disabled_reason": data.get("disabled_reason") or None,
                    "requests": int(data.get("requests", 0)),
                    "errors": int(data.get("errors", 0)),
                    "input_tokens": int(data.get("input_tokens", 0)),
                    "output_tokens": int(data.get("output_tokens", 0)),
                    "cached_tokens": int(data.get("cached_tokens", 0)),
                    "rpm_used": int(rpm_used),
                    "tpm_used": sum(int(m.rsplit(":", 1)[-1]) for m in tok_members),
                    "last_status": int(status) if status else None,
                }
            )
        return out

    async def in_flight(self, backend: str, keys: list[str], now: float) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for name in keys:
            pipe.zcount(self._names(backend, name)[1], now, "+inf")
        counts = await pipe.execute()
        return {n: int(c) for n, c in zip(keys, counts, strict=True)}

    async def sticky_get(self, session: str) -> str | None:
        value = await self._redis.get(f"{self._prefix}sticky:{session}")
        return str(value) if value else None

    async def sticky_set(self, session: str, key: str, ttl: float) -> None:
        await self._redis.set(f"{self._prefix}sticky:{session}", key, ex=max(1, int(ttl)))

    async def forget(self, backend: str, key: str) -> None:
        await self._redis.delete(*self._names(backend, key))

    async def close(self) -> None:
        await self._redis.aclose()
