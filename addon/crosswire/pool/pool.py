"""The key pool: which key serves a request, and what each answer teaches about that key.

A request asks ``acquire``; the pool tries the backend's keys in the strategy's order (the
conversation's sticky key first, keys this request already tried excluded) and the store takes
the first lease that every limit allows. When keys are only busy (``max_concurrency``) or will
be free within ``max_wait``, the request waits, bounded, woken when a lease is released; else
it gets a ``NoKey`` with an honest ``retry_after``. ``release`` counts usage and learns:
rate-limit headers cool a key before it is refused; a 429 cools it (a short limit for seconds,
an exhausted quota for as long as it lasts); a 401/403 disables it with the provider's reason
until the config changes or a probe succeeds; 5xx and connection failures cool it briefly.
Cooldowns carry jitter so that many clients failing over do not land on one key together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import time
import uuid
from collections.abc import Callable, Collection, Sequence

from crosswire.pool import limits
from crosswire.pool.model import BackendSpec, KeySpec, KeyState, Lease, NoKey, Outcome
from crosswire.pool.store import OK, Store

STICKY_TTL = 3600.0
_MAX_BACKOFF = 60.0


class Pool:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        lease_ttl: float | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.lease_ttl = lease_ttl or float(os.environ.get("CROSSWIRE_LEASE_TTL", "900"))
        self.backends: dict[str, BackendSpec] = {}
        self._rr: dict[str, int] = {}
        self._smooth: dict[str, dict[str, float]] = {}
        self._streak: dict[tuple[str, str], int] = {}
        self._fingerprints: dict[tuple[str, str], str] = {}
        self._resets: set[tuple[str, str]] = set()
        self._freed: dict[str, asyncio.Event] = {}
        self._disabled_at: dict[tuple[str, str], float] = {}

    # ---- configuration ------------------------------------------------------------------

    def configure(self, backends: Sequence[BackendSpec]) -> None:
        """Apply a (re)loaded config. State of unchanged keys is kept; a key whose secret
        changed starts clean (its disabled flag was about the old secret)."""
        self.backends = {b.name: b for b in backends}
        for spec in backends:
            self._rr.setdefault(spec.name, self.rng.randrange(1 << 16))
            for key in spec.keys:
                fp = hashlib.sha256(key.secret.encode()).hexdigest()[:16]
                old = self._fingerprints.get((spec.name, key.name))
                if old is not None and old != fp:
                    self._resets.add((spec.name, key.name))
                self._fingerprints[(spec.name, key.name)] = fp

    async def _apply_resets(self) -> None:
        while self._resets:
            backend, key = self._resets.pop()
            await self.store.enable(backend, key)
            self._disabled_at.pop((backend, key), None)
            self._streak.pop((backend, key), None)

    # ---- leasing ------------------------------------------------------------------------

    async def acquire(
        self,
        backend: str,
        *,
        session: str | None = None,
        est_tokens: int = 0,
        exclude: Collection[str] = (),
    ) -> Lease | NoKey:
        spec = self.backends.get(backend)
        if spec is None or not spec.keys:
            return NoKey(backend, None, f"backend {backend} has no keys configured")
        if self._resets:
            await self._apply_resets()
        deadline = self.clock() + spec.max_wait
        while True:
            now = self.clock()
            order = await self._order(spec, session, exclude, now)
            if not order:
                return NoKey(backend, None, f"every key of {backend} was already tried")
            waits: list[float] = []
            reasons: list[str] = []
            busy = False
            for key in order:
                lease_id = uuid.uuid4().hex
                verdict, at = await self.store.try_acquire(
                    backend, key, lease_id, now, est_tokens, self.lease_ttl
                )
                if verdict == OK:
                    if session and spec.sticky:
                        await self.store.sticky_set(session, key.name, STICKY_TTL)
                    return Lease(
                        backend=backend,
                        key_name=key.name,
                        secret=key.secret,
                        lease_id=lease_id,
                        started=now,
                        est_tokens=est_tokens,
                    )
                busy = busy or verdict == "busy"
                if at is not None:
                    waits.append(at)
                reasons.append(_describe(key.name, verdict, at))
            soonest = min(waits) if waits else None
            if now < deadline and (busy or (soonest is not None and soonest <= deadline)):
                timeout = min(deadline, soonest if soonest is not None else deadline) - now
                await self._wait_for_release(backend, max(0.005, min(timeout, 0.25)))
                continue
            retry = None if soonest is None else max(0.0, soonest - now)
            return NoKey(backend, retry, f"{backend}: " + ", ".join(reasons))

    async def _order(
        self, spec: BackendSpec, session: str | None, exclude: Collection[str], now: float
    ) -> list[KeySpec]:
        keys = [k for k in spec.keys if k.name not in exclude]
        if len(keys) > 1:
            if spec.strategy == "weighted":
                keys = self._weighted(spec.name, keys)
            else:
                start = self._rr[spec.name] % len(keys)
                self._rr[spec.name] += 1
                keys = keys[start:] + keys[:start]
                if spec.strategy == "least-busy":
                    counts = await self.store.in_flight(spec.name, [k.name for k in keys], now)
                    keys.sort(key=lambda k: counts.get(k.name, 0))  # stable: ties keep the rotation
        if session and spec.sticky and len(keys) > 1:
            sticky = await self.store.sticky_get(session)
            for i, key in enumerate(keys):
                if key.name == sticky:
                    keys.insert(0, keys.pop(i))
                    break
        return keys

    def _weighted(self, backend: str, keys: list[KeySpec]) -> list[KeySpec]:
        """Smooth weighted round robin (nginx): spreads picks evenly in proportion."""
        current = self._smooth.setdefault(backend, {})
        total = sum(k.weight for k in keys)
        for key in keys:
            current[key.name] = current.get(key.name, 0.0) + key.weight
        ranked = sorted(keys, key=lambda k: current[k.name], reverse=True)
        current[ranked[0].name] -= total
        return ranked

    async def _wait_for_release(self, backend: str, timeout: float) -> None:
        event = self._freed.setdefault(backend, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _wake(self, backend: str) -> None:
        event = self._freed.pop(backend, None)
        if event is not None:
            event.set()

    # ---- learning -----------------------------------------------------------------------

    async def release(self, lease: Lease, outcome: Outcome) -> None:
        now = self.clock()
        backend, name = lease.backend, lease.key_name
        status = outcome.status
        if status == 0:  # never sent
            await self.store.release(backend, name, lease.lease_id, now, lease.est_tokens, 0)
            self._wake(backend)
            return
        usage = outcome.usage
        tokens = None if usage is None else usage.input + usage.output
        await self.store.release(backend, name, lease.lease_id, now, lease.est_tokens, tokens)
        self._wake(backend)
        error = status is None or status >= 400
        await self.store.record(backend, name, status, usage, error, outcome.route)
        headers = outcome.headers
        exhausted = limits.exhausted_until(headers, now)
        if exhausted is not None:
            await self.store.cool(
                backend, name, exhausted[0] + self.rng.uniform(0, 0.25), exhausted[1]
            )
        if status == 429:
            streak = self._streak[(backend, name)] = self._streak.get((backend, name), 0) + 1
            wait = limits.retry_after(headers, now)
            if wait is None:
                wait = limits.gemini_retry_delay(outcome.body)
            reason = limits.reason_of(status, outcome.body, lease.secret)
            if limits.is_quota(outcome.body):
                wait = wait if wait is not None and wait > 60 else limits.QUOTA_COOLDOWN
                reason = f"quota exhausted: {reason}"
            elif wait is None:
                wait = min(_MAX_BACKOFF, 2.0 ** (streak - 1))
            await self.store.cool(backend, name, now + wait * self.rng.uniform(1.0, 1.1), reason)
        elif status in (401, 403):
            await self.store.disable(
                backend, name, limits.reason_of(status, outcome.body, lease.secret)
            )
            self._disabled_at[(backend, name)] = now
        elif status is None or status >= 500:
            streak = self._streak[(backend, name)] = self._streak.get((backend, name), 0) + 1
            wait = limits.retry_after(headers, now) or min(
                30.0, self.rng.uniform(1.0, 2.0) * streak
            )
            await self.store.cool(
                backend, name, now + wait, limits.reason_of(status, outcome.body, lease.secret)
            )
        elif status < 400:
            self._streak.pop((backend, name), None)

    # ---- probing disabled keys ----------------------------------------------------------

    def due_probes(self) -> list[tuple[str, KeySpec]]:
        """Disabled keys whose probe interval has passed (the addon probes them)."""
        now = self.clock()
        due = []
        for (backend, name), since in list(self._disabled_at.items()):
            spec = self.backends.get(backend)
            key = next((k for k in spec.keys if k.name == name), None) if spec else None
            if key is None:
                self._disabled_at.pop((backend, name), None)
            elif spec is not None and now - since >= spec.probe_interval:
                self._disabled_at[(backend, name)] = now
                due.append((backend, key))
        return due

    async def mark_probe(self, backend: str, name: str, ok: bool) -> None:
        if ok:
            await self.store.enable(backend, name)
            self._disabled_at.pop((backend, name), None)

    # ---- visibility ---------------------------------------------------------------------

    async def snapshot(self) -> list[KeyState]:
        now = self.clock()
        out = []
        for spec in self.backends.values():
            names = [k.name for k in spec.keys]
            for name, data in zip(
                names, await self.store.states(spec.name, names, now), strict=True
            ):
                out.append(KeyState(backend=spec.name, name=name, **data))
        return out

    def prometheus(self, states: Sequence[KeyState]) -> str:
        """Prometheus text exposition: per backend and key *name*."""
        metrics = (
            ("crosswire_key_requests_total", "counter", "Requests sent with this key", "requests"),
            (
                "crosswire_key_errors_total",
                "counter",
                "Requests that failed (status >= 400 or no answer)",
                "errors",
            ),
            (
                "crosswire_key_input_tokens_total",
                "counter",
                "Input tokens, cache included",
                "input_tokens",
            ),
            (
                "crosswire_key_output_tokens_total",
                "counter",
                "Output tokens, reasoning included",
                "output_tokens",
            ),
            (
                "crosswire_key_cached_tokens_total",
                "counter",
                "Input tokens read from a prompt cache",
                "cached_tokens",
            ),
            ("crosswire_key_in_flight", "gauge", "Requests in flight", "in_flight"),
        )
        lines = []
        for metric, kind, help_text, attr in metrics:
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
            for s in states:
                lines.append(
                    f'{metric}{{backend="{_esc(s.backend)}",key="{_esc(s.name)}"}} {getattr(s, attr)}'
                )
        lines += [
            "# HELP crosswire_key_cooling 1 while the key cools down",
            "# TYPE crosswire_key_cooling gauge",
        ]
        lines += [
            f'crosswire_key_cooling{{backend="{_esc(s.backend)}",key="{_esc(s.name)}"}} {int(bool(s.cooling_until))}'
            for s in states
        ]
        lines += [
            "# HELP crosswire_key_disabled 1 while the key is disabled",
            "# TYPE crosswire_key_disabled gauge",
        ]
        lines += [
            f'crosswire_key_disabled{{backend="{_esc(s.backend)}",key="{_esc(s.name)}"}} {int(s.disabled)}'
            for s in states
        ]
        return "\n".join(lines) + "\n"

    async def close(self) -> None:
        await self.store.close()


def _describe(name: str, verdict: str, at: float | None) -> str:
    if at is None:
        return f"{name} {verdict}"
    return f"{name} {verdict} until {time.strftime('%H:%M:%S', time.localtime(at))}"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
