"""Several crosswire instances sharing one pool through a real redis-server: budgets hold
across instances under concurrent acquires, a killed instance's leases lapse, waiting requests
are woken by another instance's release, and every learnt state is shared."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crosswire.pool import Lease, NoKey, Outcome, Pool, TokenUsage
from crosswire.pool import pool as pool_module
from crosswire.pool.redis_store import RedisStore

from .helpers import Clock, key, make_pool, take

#: An answer's rate-limit headers: a release that learns from them is still one round trip.
OPENAI_HEADERS = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "4999",
    "x-ratelimit-reset-requests": "12ms",
}

ADDON = Path(__file__).resolve().parents[3] / "addon"


def instances(url: str, prefix: str, n: int, *keys: object, **kw: object) -> list[Pool]:
    """``n`` pools, each with its own Redis connection, like separate processes."""
    return [make_pool(RedisStore(url, prefix=prefix), *keys, **kw) for _ in range(n)]  # type: ignore[arg-type]


async def close(pools: list[Pool]) -> None:
    for pool in pools:
        await pool.close()


async def test_two_instances_never_exceed_a_keys_rpm_together(
    redis_prefix_url: tuple[str, str],
) -> None:
    pools = instances(*redis_prefix_url, 2, key("a", rpm=5), clock=time.time)
    results = await asyncio.gather(*[p.acquire("b") for p in pools for _ in range(8)])
    assert sum(isinstance(r, Lease) for r in results) == 5
    refused = [r for r in results if isinstance(r, NoKey)]
    assert all("5/5 requests in the last minute" in r.reason for r in refused)
    await close(pools)


async def test_two_instances_never_exceed_max_concurrency_or_tpm_together(
    redis_prefix_url: tuple[str, str],
) -> None:
    url, prefix = redis_prefix_url
    pools = instances(url, prefix, 3, key("a", max_concurrency=4), key("t", tpm=1000))
    busy = await asyncio.gather(*[p.acquire("b", exclude={"t"}) for p in pools for _ in range(4)])
    assert sum(isinstance(r, Lease) for r in busy) == 4
    tokens = await asyncio.gather(
        *[p.acquire("b", exclude={"a"}, est_tokens=300) for p in pools for _ in range(3)]
    )
    assert sum(isinstance(r, Lease) for r in tokens) == 3
    await close(pools)


async def test_a_waiting_request_is_woken_by_another_instances_release(
    redis_prefix_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The waiter's safety poll is pushed out of reach: only the pub/sub message can wake it in
    # time (a bound of a few milliseconds failed on a loaded machine; this one cannot).
    monkeypatch.setattr(pool_module, "SHARED_POLL", 30.0)
    holder, waiter = instances(
        *redis_prefix_url, 2, key("a", max_concurrency=1), clock=time.time, max_wait=60.0
    )
    lease = await take(holder)
    pending = asyncio.create_task(waiter.acquire("b"))
    await asyncio.sleep(0.15)
    assert not pending.done()
    released = time.monotonic()
    await holder.release(lease, Outcome(status=200))
    assert isinstance(await asyncio.wait_for(pending, 10), Lease)
    assert time.monotonic() - released < 5, "woken through pub/sub, not at the next poll"
    await close([holder, waiter])


CHILD = """
import asyncio, sys
from crosswire.pool import BackendSpec, KeySpec, Lease, Pool
from crosswire.pool.redis_store import RedisStore

async def main():
    pool = Pool(RedisStore(sys.argv[1], prefix=sys.argv[2]), lease_ttl=1.0)
    key = KeySpec(name="a", secret="sk-child-0123456789", max_concurrency=1)
    pool.configure([BackendSpec(name="b", keys=(key,), max_wait=0)])
    assert isinstance(await pool.acquire("b"), Lease)
    print("held", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


async def test_a_killed_instances_lease_lapses_after_its_ttl(
    redis_prefix_url: tuple[str, str],
) -> None:
    """The live instance refreshes its lease beyond the TTL; once it is SIGKILLed (never
    releasing), the slot comes back within the TTL."""
    url, prefix = redis_prefix_url
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, prefix],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ADDON)},
        text=True,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "held\n"
        [other] = instances(url, prefix, 1, key("a", max_concurrency=1), clock=time.time)
        await asyncio.sleep(1.5)  # longer than the TTL: heartbeats keep the lease
        refused = await other.acquire("b")
        assert isinstance(refused, NoKey) and "1/1 in flight" in refused.reason
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed = time.monotonic()
        while isinstance(await other.acquire("b"), NoKey):
            assert time.monotonic() - killed < 1.5, "the dead instance's lease did not lapse"
            await asyncio.sleep(0.05)
        await other.close()
    finally:
        child.kill()
        child.wait()


async def test_cooldowns_disabled_flags_limits_and_usage_are_shared(
    redis_prefix_url: tuple[str, str],
) -> None:
    clock = Clock()
    one, two = instances(*redis_prefix_url, 2, key("a"), key("b"), key("c"), clock=clock)
    lease = await take(one, exclude={"b", "c"})
    await one.release(lease, Outcome(status=401, usage=TokenUsage(input=3, output=4), route="r"))
    lease = await take(one, exclude={"a", "c"})
    await one.release(lease, Outcome(status=429, headers={"retry-after": "30"}))
    lease = await take(one, exclude={"a", "b"})
    spent = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "60s",
    }
    await one.release(lease, Outcome(status=200, headers=spent, route="r"))
    refused = await two.acquire("b")
    assert isinstance(refused, NoKey), "every key known unusable by the other instance"
    states = {s.name: s for s in await two.snapshot()}
    assert states["a"].disabled and states["a"].output_tokens == 4
    assert states["b"].cooldown_reason and "429" in states["b"].cooldown_reason
    assert states["c"].cooldown_reason == "provider requests limit reached"
    [route] = await two.route_usage()
    assert (route.route, route.backend, route.requests, route.errors) == ("r", "b", 2, 1)
    await close([one, two])


async def test_one_acquire_is_one_round_trip_however_many_keys_are_tried(
    redis_prefix_url: tuple[str, str],
) -> None:
    """And one release is one round trip too: every command the store sends is counted."""
    url, prefix = redis_prefix_url
    store = RedisStore(url, prefix=prefix)
    keys = [key(f"k{i}", max_concurrency=1) for i in range(8)]
    pool = make_pool(store, *keys, strategy="least-busy")
    await pool.release(await take(pool), Outcome(status=200))  # connected, scripts loaded
    sent: list[bytes] = []
    real = store._lane._send

    async def counting(command: bytes) -> object:
        sent.append(command)
        return await real(command)

    store._lane._send = counting  # type: ignore[method-assign]
    leases = [await take(pool, session="s") for _ in range(7)]
    assert len(sent) == 7, "one acquire, one round trip (the 8th key is held, 7 tried)"
    for lease in leases:
        await pool.release(lease, Outcome(status=200, headers=OPENAI_HEADERS))
    assert len(sent) == 14
    await pool.close()


async def test_a_lease_never_released_stops_being_refreshed_and_lapses(
    redis_prefix_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heartbeats keep running leases alive, but not forever: one the addon forgot to
    release lapses after MAX_HOLD plus the TTL, like a crashed instance's."""
    monkeypatch.setattr(pool_module, "MAX_HOLD", 0.6)
    url, prefix = redis_prefix_url
    [pool] = instances(url, prefix, 1, key("a", max_concurrency=1), clock=time.time, lease_ttl=0.3)
    started = time.monotonic()
    await take(pool)  # never released
    await asyncio.sleep(0.45)
    assert isinstance(await pool.acquire("b"), NoKey), "refreshed past its 0.3 s TTL"
    while isinstance(await pool.acquire("b"), NoKey):
        assert time.monotonic() - started < 2.0
        await asyncio.sleep(0.05)
    assert time.monotonic() - started > 0.6
    await pool.close()


async def test_an_unreachable_shared_store_degrades_to_this_instances_own_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis down must not stop every request: the pool serves from its own state for a
    while (budgets then hold per instance), says so once, and tries Redis again later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    clock = Clock()
    pool = make_pool(RedisStore(f"redis://127.0.0.1:{port}/0"), key("a", rpm=2), clock=clock)
    started = time.monotonic()
    first = await take(pool)
    assert first.local
    await pool.release(first, Outcome(status=200, usage=TokenUsage(1, 2, 3)))
    await take(pool)
    assert isinstance(await pool.acquire("b"), NoKey), "the rpm budget still holds locally"
    [state] = await pool.snapshot()
    assert state.requests == 1 and state.rpm_used == 2
    await pool.mark_probe("b", "a", True)
    assert time.monotonic() - started < 2
    assert caplog.text.count("uses its own pool state") == 1
    await pool.close()
