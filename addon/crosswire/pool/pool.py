"""The key pool: which key serves a request, and what each answer teaches about that key.

``acquire`` orders the backend's keys by the strategy (round-robin rotation, least-busy, or
smooth weighted round robin), leaves out the keys this request already tried, and asks the
store to lease the first key that every limit allows — the conversation's sticky key first.
When keys are only busy (``max_concurrency``) or will be free within ``max_wait`` (a budget
window, pacing, a short cooldown), the request waits, bounded, woken when a lease ends; else
it gets a ``NoKey`` that says why each key is unavailable and an honest ``retry_after``.

``release`` ends the lease and learns from the answer (see ``limits``): rate-limit headers
refuse a key before the provider would; a 429 cools it (a short limit for its retry-after or
a doubling backoff, an exhausted quota for as long as it lasts); a 401/403 disables it with
the provider's reason until the config changes or a probe succeeds; 5xx, 529 and connection
failures cool it for a second or a few. Cooldown ends carry jitter, and a failover picks
among the remaining keys at random, so many clients failing over do not land on one key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Sequence

from crosswire.pool import limits, metrics
from crosswire.pool.memory_store import MemoryStore
from crosswire.pool.model import BackendSpec, KeySpec, KeyState, Lease, NoKey, Outcome, RouteUsage
from crosswire.pool.refusals import no_key
from crosswire.pool.rotation import Rotation
from crosswire.pool.store import Ask, Candidate, Refusal, Settlement, Store

log = logging.getLogger(__name__)

#: How long a session stays bound to its key without a request.
STICKY_TTL = 3600.0
#: With a shared store another instance may free a slot: re-check at least this often.
SHARED_POLL = 0.1
#: After the shared store fails, use this process's own store for this long (seconds) before
#: trying the shared one again.
DEGRADED_FOR = 5.0
#: Settlements kept for a shared store that is away (the oldest are dropped beyond this).
MISSED_MAX = 10_000
#: Heartbeats stop for a lease held this long (seconds): one the addon never released lapses.
MAX_HOLD = 7200.0
#: The most jitter added to a cooldown's end (10 % of the cooldown plus 50 ms, up to this).
JITTER_MAX = 30.0
_FAILURES = ("rate_limit", "overloaded", "server", "unreachable")


def fingerprint(key: KeySpec) -> str:
    """Name and secret, hashed: a changed secret is a new key (and no secret is stored)."""
    return hashlib.sha256(f"{key.name}\0{key.secret}".encode()).hexdigest()[:16]


class Pool:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        lease_ttl: float | None = None,
        sticky_ttl: float = STICKY_TTL,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        env_ttl = os.environ.get("CROSSWIRE_LEASE_TTL")
        self.lease_ttl = lease_ttl or (float(env_ttl) if env_ttl else store.lease_ttl)
        self.sticky_ttl = sticky_ttl
        self.backends: dict[str, BackendSpec] = {}
        self._candidates: dict[str, tuple[Candidate, ...]] = {}
        self._keys: dict[str, dict[str, KeySpec]] = {}
        self._fps: dict[tuple[str, str], str] = {}
        self.rotation = Rotation(self.rng)
        self._probe_at: dict[tuple[str, str], float] = {}
        self._held: dict[str, tuple[str, str, float]] = {}  # lease id -> (backend, key, start)
        self._beat: asyncio.Task[None] | None = None
        self._ids = itertools.count()
        self._instance = uuid.uuid4().hex[:12]
        self._local: Store | None = None  # fallback while a shared store is unreachable
        self._degraded_until = 0.0  # monotonic
        #: Settlements the shared store missed while away — releases of its own leases, and
        #: what the fallback's leases taught — replayed once it answers again, so its leases
        #: and counts are right again (not only after the lease TTL).
        self._missed: deque[tuple[Lease, Settlement]] = deque(maxlen=MISSED_MAX)
        #: Releases whose store reply is still out (``release_soon``).
        self._settling: set[asyncio.Task[None]] = set()

    # ---- configuration ------------------------------------------------------------------

    def configure(self, backends: Sequence[BackendSpec]) -> None:
        """Apply a (re)loaded config. State of unchanged keys is kept; a key whose secret
        changed starts clean (the store compares fingerprints at its next acquire, so this
        also holds across restarts and between instances sharing Redis)."""
        self.backends = {b.name: b for b in backends}
        self._candidates = {}
        self._keys = {}
        for spec in backends:
            self.rotation.configure(spec)
            self._keys[spec.name] = {k.name: k for k in spec.keys}
            cands = []
            for key in spec.keys:
                fp = fingerprint(key)
                if self._fps.get((spec.name, key.name), fp) != fp:
                    self._probe_at.pop((spec.name, key.name), None)
                self._fps[(spec.name, key.name)] = fp
                cands.append(Candidate(key, fp))
            self._candidates[spec.name] = tuple(cands)

    # ---- leasing ------------------------------------------------------------------------

    def sticky(self, backend: str) -> bool:
        """Whether ``backend`` keeps a conversation on one key (it has several, stickily): the
        only case where a request's session matters, so callers compute it only then."""
        spec = self.backends.get(backend)
        return spec is not None and spec.sticky and len(spec.keys) > 1

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
            return NoKey(backend, None, f"no keys configured for backend {backend}")
        cands = self._candidates[backend]
        if exclude:
            cands = tuple(c for c in cands if c.spec.name not in exclude)
            if not cands:
                tried = ", ".join(k.name for k in spec.keys)
                return NoKey(backend, None, f"every key of {backend} was already tried ({tried})")
        lease_id = f"{self._instance}-{next(self._ids)}"
        if not self.sticky(backend):
            session = None
        deadline: float | None = None
        while True:
            ask = self._ask(spec, lease_id, session, est_tokens)
            now = ask.now
            store = self._current_store()
            order = self.rotation.order(spec, cands, bool(exclude))
            try:
                got = await store.acquire(backend, order, ask)
            except Exception as exc:
                store = self._degrade(exc)
                got = await store.acquire(backend, order, ask)
            if self._missed and store is self.store:
                await self._replay_missed()
            if isinstance(got, str):
                return self._leased(spec, cands, got, ask, store)
            self._note_disabled(backend, got, now)
            mono = time.monotonic()
            if deadline is None:
                deadline = mono + spec.max_wait
            left = deadline - mono
            times = [r.retry_at for r in got if r.retry_at is not None]
            soonest = min(times) - now if times else None
            busy = any(r.verdict == "busy" for r in got)
            if left <= 0 or not (busy or (soonest is not None and soonest <= left)):
                waited = spec.max_wait - max(0.0, left) if spec.max_wait > 0 else 0.0
                return no_key(spec, got, now, exclude, waited)
            timeout = left if soonest is None else min(left, max(soonest, 0.001))
            if store.shared:
                timeout = min(timeout, SHARED_POLL)
            try:
                await store.wait_freed(backend, timeout)
            except Exception as exc:
                self._degrade(exc)

    def acquire_now(
        self, backend: str, *, session: str | None = None, est_tokens: int = 0
    ) -> Lease | None:
        """A lease without awaiting anything, when the store is this process's memory and a key
        is free: what the request path uses inside mitmproxy's HTTP layer, where nothing can be
        awaited. None when a lease would take a round trip (a shared store), a wait, or a
        refusal's accounting — ``acquire`` then does all of that."""
        spec = self.backends.get(backend)
        store = self._current_store()
        if spec is None or not spec.keys or not isinstance(store, MemoryStore):
            return None
        if not self.sticky(backend):
            session = None
        ask = self._ask(spec, f"{self._instance}-{next(self._ids)}", session, est_tokens)
        cands = self._candidates[backend]
        got = store.take(backend, self.rotation.order(spec, cands, False), ask)
        return self._leased(spec, cands, got, ask, store) if isinstance(got, str) else None

    def _ask(self, spec: BackendSpec, lease_id: str, session: str | None, est_tokens: int) -> Ask:
        return Ask(
            self.clock(),
            lease_id,
            est_tokens,
            self.lease_ttl,
            spec.strategy == "least-busy",
            session,
            self.sticky_ttl,
        )

    def _leased(
        self, spec: BackendSpec, cands: Sequence[Candidate], key: str, ask: Ask, store: Store
    ) -> Lease:
        """The store leased ``key``: the pool's own bookkeeping, and the lease."""
        backend = spec.name
        self.rotation.chose(spec, key, cands)
        if store.shared:
            self._held[ask.lease_id] = (backend, key, ask.now)
            if self._beat is None:
                self._start_heartbeats()
        if self._probe_at:  # enabled again (maybe by another instance)
            self._probe_at.pop((backend, key), None)
        secret = self._keys[backend][key].secret
        local = store is not self.store
        return Lease(backend, key, secret, ask.lease_id, ask.now, ask.est_tokens, local)

    def _current_store(self) -> Store:
        if self._local is not None and time.monotonic() < self._degraded_until:
            return self._local
        return self.store

    def _degrade(self, exc: Exception) -> Store:
        """The shared store failed: serve from this process's own state for a few seconds
        (limits then hold per instance only) rather than stop every request."""
        if self._local is None:
            self._local = MemoryStore()
        if time.monotonic() >= self._degraded_until:
            log.warning(
                "crosswire: the shared key-pool store failed (%s: %s); this instance uses its "
                "own pool state for %.0f s",
                type(exc).__name__,
                exc,
                DEGRADED_FOR,
            )
        self._degraded_until = time.monotonic() + DEGRADED_FOR
        return self._local

    async def _settle(self, lease: Lease, settlement: Settlement) -> None:
        if lease.local and self._local is not None:
            await self._local.settle(lease.backend, lease.key_name, lease.lease_id, settlement)
            if self.store.shared and settlement.sent:
                self._missed.append((lease, settlement))
            return
        try:
            await self.store.settle(lease.backend, lease.key_name, lease.lease_id, settlement)
        except Exception as exc:  # replayed when the store is back (else it lapses by its TTL)
            self._degrade(exc)
            self._missed.append((lease, settlement))

    async def _replay_missed(self) -> None:
        while self._missed:
            lease, settlement = self._missed.popleft()
            try:
                await self.store.settle(lease.backend, lease.key_name, lease.lease_id, settlement)
            except Exception as exc:
                self._missed.appendleft((lease, settlement))
                self._degrade(exc)
                return

    # ---- learning -----------------------------------------------------------------------

    async def release(self, lease: Lease, outcome: Outcome) -> None:
        self._held.pop(lease.lease_id, None)
        now = self.clock()
        status = outcome.status
        if status == 0:  # never sent: give the reservations back, count and learn nothing
            await self._settle(lease, Settlement(now=now, sent=False, est_tokens=lease.est_tokens))
            return
        lesson = limits.learn(status, outcome.headers, outcome.body, now, lease.secret)
        usage = outcome.usage
        if usage is not None:
            tokens: int | None = usage.input + usage.output
        else:
            tokens = 0 if lesson.error else None  # refused: nothing was consumed
        cool_until = lesson.cool_until
        if cool_until is not None:
            span = max(0.0, cool_until - now)
            cool_until += self.rng.uniform(0.0, min(JITTER_MAX, 0.1 * span + 0.05))
        backoff = None
        if lesson.backoff is not None:
            backoff = (*lesson.backoff, self.rng.uniform(1.0, 1.25))
        settlement = Settlement(
            now=now,
            sent=True,
            est_tokens=lease.est_tokens,
            tokens=tokens,
            status=status,
            error=lesson.error,
            usage=usage,
            latency=max(0.0, now - lease.started),
            route=outcome.route,
            cool_until=cool_until,
            backoff=backoff,
            cool_reason=lesson.reason,
            disable=lesson.disable,
            success=lesson.kind == "ok",
            failure=lesson.kind in _FAILURES,
            buckets=lesson.buckets,
        )
        await self._settle(lease, settlement)
        if lesson.disable is not None:
            self._schedule_probe(lease.backend, lease.key_name, now)

    def release_soon(self, lease: Lease, outcome: Outcome) -> None:
        """``release`` without waiting for the store. The task starts eagerly: the lesson is
        taken and the store's settle command written before this returns, and only the reply is
        awaited in the background — off the request's path (a Redis round trip). This instance's
        next acquire is written behind the settle on the same connection, so it already sees
        it. Never raises; ``close`` waits for the replies still out."""
        task = asyncio.Task(
            self._release_logged(lease, outcome),
            loop=asyncio.get_running_loop(),
            eager_start=True,
        )
        if not task.done():
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _release_logged(self, lease: Lease, outcome: Outcome) -> None:
        try:
            await self.release(lease, outcome)
        except Exception:  # accounting must not break a flow
            log.exception("crosswire: releasing a key lease failed")

    async def heartbeat(self, lease: Lease) -> None:
        """Keep a long request's lease alive. With a shared store the pool already does this
        for every running lease, every third of the lease TTL, so that only a crashed
        instance's leases lapse."""
        store = self._local if lease.local and self._local is not None else self.store
        until = self.clock() + self.lease_ttl
        await store.heartbeat(
            lease.backend, [(lease.key_name, lease.lease_id)], until, self.lease_ttl
        )

    def _start_heartbeats(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to refresh for
            self._beat = asyncio.get_running_loop().create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if not self._held:
                continue
            now = self.clock()
            by_backend: dict[str, list[tuple[str, str]]] = {}
            for lease_id, (backend, key, started) in list(self._held.items()):
                if now - started > MAX_HOLD:  # never released: let it lapse
                    del self._held[lease_id]
                    continue
                by_backend.setdefault(backend, []).append((key, lease_id))
            for backend, leases in by_backend.items():
                try:
                    await self.store.heartbeat(
                        backend, leases, now + self.lease_ttl, self.lease_ttl
                    )
                except Exception as exc:  # Redis away for a moment: the next beat retries
                    log.warning("crosswire: refreshing %d key leases failed: %s", len(leases), exc)

    # ---- probing disabled keys ----------------------------------------------------------

    def _schedule_probe(self, backend: str, key: str, now: float) -> None:
        spec = self.backends.get(backend)
        if spec is not None and (backend, key) not in self._probe_at:
            self._probe_at[(backend, key)] = now + spec.probe_interval

    def _note_disabled(self, backend: str, refusals: list[Refusal], now: float) -> None:
        """A key disabled by another instance (or before a restart) gets probed here too."""
        for r in refusals:
            if r.verdict == "disabled":
                self._schedule_probe(backend, r.key, now)

    def due_probes(self, now: float | None = None) -> list[tuple[str, KeySpec]]:
        """Disabled keys whose probe time has come: (backend, key). Each is returned once per
        ``probe_interval``; the caller probes it and reports with ``mark_probe``."""
        now = self.clock() if now is None else now
        due = []
        for (backend, name), at in list(self._probe_at.items()):
            key = self._keys.get(backend, {}).get(name)
            if key is None:
                del self._probe_at[(backend, name)]
            elif now >= at:
                self._probe_at[(backend, name)] = now + self.backends[backend].probe_interval
                due.append((backend, key))
        return due

    async def mark_probe(
        self, backend: str, key_name: str, ok: bool, reason: str | None = None
    ) -> None:
        """A probe's result: ``ok`` re-enables the key (its cooldowns stay); a failure may
        update the reason shown."""
        stores = [self.store] + ([self._local] if self._local is not None else [])
        if ok:
            self._probe_at.pop((backend, key_name), None)
        key = self._keys.get(backend, {}).get(key_name)
        scrubbed = limits.scrub(reason or "", key.secret if key is not None else "")
        for store in stores:
            try:
                if ok:
                    await store.enable(backend, key_name)
                elif scrubbed:
                    await store.disable(backend, key_name, scrubbed)
            except Exception as exc:
                self._degrade(exc)

    # ---- visibility ---------------------------------------------------------------------

    async def snapshot(self) -> list[KeyState]:
        """Every configured key's state, from the (possibly shared) store."""
        now = self.clock()
        out: list[KeyState] = []
        if self._missed and self._current_store() is self.store:
            await self._replay_missed()
        for spec in self.backends.values():
            store = self._current_store()
            try:
                states = await store.states(spec.name, spec.keys, now)
            except Exception as exc:
                states = await self._degrade(exc).states(spec.name, spec.keys, now)
            for state in states:
                if state.disabled:
                    self._schedule_probe(spec.name, state.name, now)
                else:
                    self._probe_at.pop((spec.name, state.name), None)
                out.append(state)
        return out

    async def route_usage(self) -> list[RouteUsage]:
        """Usage per route and backend (a route with a fallback chain has a row per backend)."""
        store = self._current_store()
        try:
            return await store.routes(list(self.backends))
        except Exception as exc:
            return await self._degrade(exc).routes(list(self.backends))

    def prometheus(self, states: Sequence[KeyState], routes: Sequence[RouteUsage] = ()) -> str:
        """Prometheus text exposition: per backend and key *name* (never a secret)."""
        return metrics.render(states, routes)

    async def close(self) -> None:
        if self._settling:  # the last releases reach the store before it closes
            await asyncio.wait(set(self._settling), timeout=5.0)
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        await self.store.close()
        if self._local is not None:
            await self._local.close()
