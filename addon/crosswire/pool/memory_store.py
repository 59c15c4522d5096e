"""The default store: plain objects on mitmproxy's single event-loop thread.

No locks are needed: no operation awaits in its middle, so each is atomic on the loop, and
acquire + release cost a few microseconds. It mirrors ``redis_store``'s Lua scripts rule for
rule (the unit tests run the same behaviour against both).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from crosswire.pool.memory_key import WINDOW, KeyRecord, TokenReservation, snapshot
from crosswire.pool.model import LATENCY_BUCKETS, KeySpec, KeyState, RouteUsage
from crosswire.pool.store import (
    MOMENTARY,
    STICKY_MAX,
    Ask,
    Candidate,
    Refusal,
    Settlement,
    Wakeups,
    latency_index,
)

#: Leases live this long. Nothing can crash separately from this process's leases (so no
#: heartbeats run): this only bounds the harm of a lease the addon never releases.
MEMORY_LEASE_TTL = 3600.0


def _first_two(entry: tuple[int, int, Candidate]) -> tuple[int, int]:
    return entry[0], entry[1]


class MemoryStore:
    shared = False
    lease_ttl = MEMORY_LEASE_TTL

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, KeyRecord]] = {}  # backend -> key name -> state
        self._sticky: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._routes: dict[tuple[str, str], RouteUsage] = {}
        self._freed = Wakeups()

    def _key(self, backend: str, name: str) -> KeyRecord:
        keys = self._keys.get(backend)
        if keys is None:
            keys = self._keys[backend] = {}
        k = keys.get(name)
        if k is None:
            k = keys[name] = KeyRecord()
        return k

    # ---- acquire ------------------------------------------------------------------------

    async def acquire(
        self, backend: str, keys: Sequence[Candidate], ask: Ask
    ) -> str | list[Refusal]:
        return self.take(backend, keys, ask)

    def take(self, backend: str, keys: Sequence[Candidate], ask: Ask) -> str | list[Refusal]:
        """``acquire`` without a coroutine: this store never waits inside one, so the pool can
        lease at once where no ``await`` is possible (``Pool.acquire_now``)."""
        now = ask.now
        order = keys
        stuck: str | None = None
        if ask.session is not None:
            found = self._sticky.get((backend, ask.session))
            if found is not None and found[1] > now:
                stuck = found[0]
                for i, c in enumerate(keys):
                    if c.spec.name == stuck:
                        if i:
                            order = [c, *keys[:i], *keys[i + 1 :]]
                        break
        states = self._keys.get(backend)
        if states is None:
            states = self._keys[backend] = {}
        if ask.least_busy and len(order) > 1:
            order = list(order)
            head = 1 if stuck is not None and order[0].spec.name == stuck else 0
            ranked = []
            for pos in range(head, len(order)):
                c = order[pos]
                k = states.get(c.spec.name) or self._key(backend, c.spec.name)
                k.expire(now)
                ranked.append((len(k.leases), pos, c))
            ranked.sort(key=_first_two)
            order[head:] = [c for _, _, c in ranked]
        refusals: list[Refusal] = []
        for c in order:
            k = states.get(c.spec.name) or self._key(backend, c.spec.name)
            refusal = self._try(k, c, ask)
            if refusal is None:
                name = c.spec.name
                if ask.session is not None:
                    self._stick(backend, ask, name, stuck, refusals)
                return name
            refusals.append(refusal)
        return refusals

    def _stick(
        self, backend: str, ask: Ask, name: str, stuck: str | None, refusals: list[Refusal]
    ) -> None:
        """Bind the session to the key that served it — unless its own key was only
        momentarily busy (then it comes back to it next time)."""
        assert ask.session is not None
        if stuck is not None and stuck != name:
            for r in refusals:
                if r.key == stuck and r.verdict in MOMENTARY:
                    return
        sticky = self._sticky
        sticky[(backend, ask.session)] = (name, ask.now + ask.sticky_ttl)
        sticky.move_to_end((backend, ask.session))
        while len(sticky) > STICKY_MAX:
            sticky.popitem(last=False)

    def _try(self, k: KeyRecord, c: Candidate, ask: Ask) -> Refusal | None:
        spec, now, est = c.spec, ask.now, ask.est_tokens
        if k.fp != c.fp:
            if k.fp:
                k.reset_health()
            k.fp = c.fp
        if k.disabled:
            return Refusal(spec.name, "disabled", None, k.disabled_reason or "")
        if k.cooling_until > now:
            return Refusal(spec.name, "cooling", k.cooling_until, k.cooldown_reason or "")
        k.expire(now)
        if spec.max_concurrency is not None and len(k.leases) >= spec.max_concurrency:
            n = len(k.leases)
            return Refusal(spec.name, "busy", None, f"{n}/{spec.max_concurrency} in flight")
        if spec.rpm is not None and len(k.starts) >= spec.rpm:
            return Refusal(
                spec.name,
                "rpm",
                k.starts[0][0] + WINDOW,
                f"{len(k.starts)}/{spec.rpm} requests in the last minute",
            )
        if spec.tpm is not None and k.toks and k.tok_sum + est > spec.tpm:
            return Refusal(
                spec.name,
                "tpm",
                k.toks[0].at + WINDOW,
                f"{k.tok_sum:.0f}+{est}/{spec.tpm} tokens in the last minute",
            )
        if k.buckets:
            refusal = self._check_buckets(k, spec.name, now, est)
            if refusal is not None:
                return refusal
        if spec.pace_ms and now - k.last_start < spec.pace_ms / 1000:
            return Refusal(
                spec.name, "pace", k.last_start + spec.pace_ms / 1000, f"{spec.pace_ms} ms pacing"
            )
        # Every check passed: take the lease.
        expiry = now + ask.ttl
        k.leases[ask.lease_id] = expiry
        if expiry < k.next_expiry:
            k.next_expiry = expiry
        if spec.rpm is not None:
            k.starts.append((now, ask.lease_id))
        if spec.tpm is not None:
            tok = TokenReservation(now, ask.lease_id, float(est))
            k.toks.append(tok)
            k.tok_by_lease[ask.lease_id] = tok
            k.tok_sum += est
        if k.buckets:
            for b in k.buckets.values():
                b.draw(now, est)
        k.last_start = now
        return None

    @staticmethod
    def _check_buckets(k: KeyRecord, name: str, now: float, est: int) -> Refusal | None:
        blocked: tuple[float, str] | None = None
        for fid, b in list(k.buckets.items()):
            if now >= b.expires:
                del k.buckets[fid]
                continue
            need = b.need_for(est)
            left = b.available(now)
            if left < need:
                at = b.ready_at(need)
                if blocked is None or at > blocked[0]:
                    blocked = (at, f"provider {b.what} limit: {max(0.0, left):.0f} left")
        if blocked is None:
            return None
        return Refusal(name, "limit", blocked[0], blocked[1])

    # ---- settle -------------------------------------------------------------------------

    async def settle(self, backend: str, key: str, lease_id: str, s: Settlement) -> None:
        k = self._key(backend, key)
        k.leases.pop(lease_id, None)
        entry = k.tok_by_lease.get(lease_id)
        if not s.sent:
            for i in range(len(k.starts) - 1, -1, -1):
                if k.starts[i][1] == lease_id:
                    del k.starts[i]
                    break
            if entry is not None:
                k.tok_sum -= entry.n
                entry.n = 0.0
            self._freed.wake(backend)
            return
        if entry is not None and s.tokens is not None:
            k.tok_sum += s.tokens - entry.n
            entry.n = float(s.tokens)
        k.requests += 1
        k.errors += s.error
        k.last_status = s.status
        usage = s.usage
        if usage is not None:
            k.input_tokens += usage.input
            k.output_tokens += usage.output
            k.cached_tokens += usage.cached
        k.lat_sum += s.latency
        k.lat_count += 1
        k.lat_buckets[latency_index(s.latency, LATENCY_BUCKETS)] += 1
        if s.route:
            r = self._routes.get((s.route, backend))
            if r is None:
                r = self._routes[(s.route, backend)] = RouteUsage(s.route, backend)
            r.requests += 1
            r.errors += s.error
            if usage is not None:
                r.input_tokens += usage.input
                r.output_tokens += usage.output
                r.cached_tokens += usage.cached
        for fid, bucket in s.buckets:
            if bucket is None:
                k.buckets.pop(fid, None)
            else:
                k.buckets[fid] = bucket
        if s.disable is not None:
            k.disabled, k.disabled_reason = True, s.disable
        if s.failure:
            k.streak += 1
        elif s.success:
            k.streak = 0
        until = s.cool_until
        if s.backoff is not None:
            base, cap, jitter = s.backoff
            wait = min(cap, base * 2.0 ** max(0, k.streak - 1)) * jitter
            until = max(until or 0.0, s.now + wait)
        if until is not None and until > k.cooling_until:
            k.cooling_until, k.cooldown_reason = until, s.cool_reason
        self._freed.wake(backend)

    async def heartbeat(
        self, backend: str, leases: Sequence[tuple[str, str]], until: float, ttl: float
    ) -> None:
        for key, lease_id in leases:
            k = self._key(backend, key)
            if lease_id in k.leases:
                k.leases[lease_id] = until

    # ---- health -------------------------------------------------------------------------

    async def disable(self, backend: str, key: str, reason: str) -> None:
        k = self._key(backend, key)
        k.disabled, k.disabled_reason = True, reason

    async def enable(self, backend: str, key: str) -> None:
        k = self._key(backend, key)
        k.disabled, k.disabled_reason = False, None
        self._freed.wake(backend)

    # ---- visibility ---------------------------------------------------------------------

    async def states(self, backend: str, keys: Sequence[KeySpec], now: float) -> list[KeyState]:
        return [snapshot(self._key(backend, spec.name), backend, spec, now) for spec in keys]

    async def routes(self, backends: Sequence[str]) -> list[RouteUsage]:
        wanted = set(backends)
        return [
            RouteUsage(**{f: getattr(r, f) for f in RouteUsage.__dataclass_fields__})
            for (_, backend), r in sorted(self._routes.items())
            if backend in wanted
        ]

    # ---- waiting ------------------------------------------------------------------------

    async def wait_freed(self, backend: str, timeout: float) -> None:
        await self._freed.wait(backend, timeout)

    async def close(self) -> None:
        pass
