"""The key pool in depth: strategies, limits, learning from answers, stickiness, shared state."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from crosswire.pool import (
    BackendSpec,
    KeySpec,
    Lease,
    MemoryStore,
    NoKey,
    Outcome,
    Pool,
    TokenUsage,
    limits,
    make_store,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def pool_with(
    *keys: KeySpec,
    strategy: str = "round-robin",
    clock: Clock | None = None,
    max_wait: float = 0.0,
    store: object = None,
) -> Pool:
    pool = Pool(store or MemoryStore(), clock=clock or Clock(), rng=random.Random(7))  # type: ignore[arg-type]
    pool.configure([BackendSpec(name="b", keys=keys, strategy=strategy, max_wait=max_wait)])  # type: ignore[arg-type]
    return pool


def k(name: str, **kw: object) -> KeySpec:
    return KeySpec(name=name, secret=f"secret-{name}", **kw)  # type: ignore[arg-type]


async def take(pool: Pool, **kw: object) -> Lease:
    got = await pool.acquire("b", **kw)  # type: ignore[arg-type]
    assert isinstance(got, Lease), got
    return got


async def test_round_robin_spreads_evenly() -> None:
    pool = pool_with(k("a"), k("b"), k("c"))
    names = []
    for _ in range(9):
        lease = await take(pool)
        names.append(lease.key_name)
        await pool.release(lease, Outcome(status=200))
    assert Counter(names) == {"a": 3, "b": 3, "c": 3}


async def test_weighted_follows_the_weights() -> None:
    pool = pool_with(k("heavy", weight=3), k("light", weight=1), strategy="weighted")
    names = [(await take(pool)).key_name for _ in range(40)]
    assert Counter(names) == {"heavy": 30, "light": 10}


async def test_least_busy_prefers_the_key_with_fewest_in_flight() -> None:
    pool = pool_with(k("a"), k("b"), strategy="least-busy")
    first = await take(pool)
    second = await take(pool)
    assert first.key_name != second.key_name
    await pool.release(first, Outcome(status=200))
    assert (await take(pool)).key_name == first.key_name


async def test_max_concurrency_waits_bounded_then_refuses() -> None:
    pool = Pool(MemoryStore(), rng=random.Random(1))
    pool.configure([BackendSpec(name="b", keys=(k("a", max_concurrency=1),), max_wait=0.3)])
    lease = await take(pool)
    waiter = asyncio.create_task(pool.acquire("b"))
    await asyncio.sleep(0.05)
    await pool.release(lease, Outcome(status=200))
    assert isinstance(await waiter, Lease), "woken when the slot freed"
    t = asyncio.get_running_loop().time()
    assert isinstance(await pool.acquire("b"), NoKey)
    assert 0.25 < asyncio.get_running_loop().time() - t < 1.0


async def test_rpm_and_tpm_budgets_are_enforced_before_sending() -> None:
    clock = Clock()
    pool = pool_with(k("a", rpm=2, tpm=100), clock=clock)
    await take(pool, est_tokens=10)
    await take(pool, est_tokens=10)
    refused = await pool.acquire("b", est_tokens=10)
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(60)
    clock.now += 61
    lease = await take(pool, est_tokens=90)
    await pool.release(lease, Outcome(status=200, usage=TokenUsage(input=50, output=50)))
    assert isinstance(await pool.acquire("b", est_tokens=10), NoKey)  # 100 tokens used this minute


async def test_429_cools_the_key_for_retry_after_and_others_serve() -> None:
    clock = Clock()
    pool = pool_with(k("a"), k("b"), clock=clock)
    lease = await take(pool)
    await pool.release(
        lease,
        Outcome(
            status=429,
            headers={"retry-after": "20"},
            body=b'{"error":{"type":"rate_limit_error","message":"slow"}}',
        ),
    )
    for _ in range(3):
        other = await take(pool)
        assert other.key_name != lease.key_name
        await pool.release(other, Outcome(status=200))
    clock.now += 25
    names = {(await take(pool, exclude=())).key_name for _ in range(2)}
    assert lease.key_name in names


async def test_exhausted_quota_cools_for_long_and_says_so() -> None:
    clock = Clock()
    pool = pool_with(k("a"), clock=clock)
    lease = await take(pool)
    await pool.release(
        lease,
        Outcome(
            status=429,
            body=b'{"error":{"message":"You exceeded your current quota",'
            b'"type":"insufficient_quota","code":"insufficient_quota"}}',
        ),
    )
    [state] = await pool.snapshot()
    assert state.cooling_until and state.cooling_until - clock.now >= 3600
    assert "quota exhausted" in (state.cooldown_reason or "")


async def test_gemini_retry_info_and_quota_failure_from_a_real_429() -> None:
    rec = json.loads((FIX / "gemini" / "error_429_resource_exhausted.json").read_text())
    body = rec["response"]["body"].encode()
    delay = limits.gemini_retry_delay(body)
    assert delay is not None and delay > 0


async def test_rate_limit_headers_cool_a_key_before_it_is_refused() -> None:
    clock = Clock()
    pool = pool_with(k("a"), k("b"), clock=clock)
    lease = await take(pool)
    await pool.release(
        lease,
        Outcome(
            status=200,
            headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
        ),
    )
    states = {s.name: s for s in await pool.snapshot()}
    assert states[lease.key_name].cooling_until == pytest.approx(clock.now + 360, abs=1)


def test_header_parsing_of_real_recordings() -> None:
    rec = json.loads((FIX / "anthropic" / "stream_thinking_then_tool_use.json").read_text())
    headers = rec["response"]["headers"]
    assert limits.exhausted_until(headers, 0) is None  # plenty remaining
    assert limits.parse_duration("6m0s") == 360 and limits.parse_duration("20ms") == pytest.approx(
        0.02
    )
    assert limits.retry_after({"retry-after-ms": "1500"}, 0) == 1.5
    assert limits.parse_reset("2026-05-28T22:16:00Z", 0) is not None


async def test_401_disables_with_a_secret_free_reason_and_probe_reenables() -> None:
    clock = Clock()
    pool = pool_with(k("a"), clock=clock)
    lease = await take(pool)
    await pool.release(
        lease,
        Outcome(
            status=401,
            body=b'{"error":{"message":"bad key secret-a","type":"authentication_error"}}',
        ),
    )
    [state] = await pool.snapshot()
    assert (
        state.disabled
        and "401" in (state.disabled_reason or "")
        and "secret-a" not in (state.disabled_reason or "")
    )
    assert isinstance(await pool.acquire("b"), NoKey)
    clock.now += 61
    [(backend, key)] = pool.due_probes()
    await pool.mark_probe(backend, key.name, ok=True)
    assert isinstance(await pool.acquire("b"), Lease)


async def test_configure_keeps_state_but_a_changed_secret_starts_clean() -> None:
    pool = pool_with(k("a"))
    lease = await take(pool)
    await pool.release(lease, Outcome(status=401))
    pool.configure([BackendSpec(name="b", keys=(k("a"),), max_wait=0)])
    assert isinstance(await pool.acquire("b"), NoKey)
    pool.configure([BackendSpec(name="b", keys=(KeySpec(name="a", secret="rotated"),), max_wait=0)])
    assert isinstance(await pool.acquire("b"), Lease)


async def test_a_session_sticks_to_its_key_while_healthy() -> None:
    pool = pool_with(k("a"), k("b"), k("c"))
    first = await take(pool, session="conv-1")
    for _ in range(5):
        lease = await take(pool, session="conv-1")
        assert lease.key_name == first.key_name
        await pool.release(lease, Outcome(status=200))
    await pool.release(first, Outcome(status=429, headers={"retry-after": "30"}))
    assert (await take(pool, session="conv-1")).key_name != first.key_name


async def test_prometheus_and_snapshot_show_names_never_secrets() -> None:
    pool = pool_with(k("team-a"))
    lease = await take(pool)
    await pool.release(
        lease, Outcome(status=200, usage=TokenUsage(input=10, output=5, cached=2), route="route 1")
    )
    states = await pool.snapshot()
    text = pool.prometheus(states)
    assert 'crosswire_key_requests_total{backend="b",key="team-a"} 1' in text
    assert "secret-team-a" not in text + repr(states) + repr(lease)


async def test_redis_two_pools_never_exceed_a_keys_rpm_together(redis_url: str) -> None:
    a, b = make_store(redis_url), make_store(redis_url)
    p1, p2 = pool_with(k("a", rpm=5), store=a), pool_with(k("a", rpm=5), store=b)
    results = await asyncio.gather(*[p.acquire("b") for p in (p1, p2) for _ in range(8)])
    assert sum(isinstance(r, Lease) for r in results) == 5
    await p1.close()
    await p2.close()


async def test_redis_lease_of_a_crashed_instance_expires(redis_url: str) -> None:
    crashed = Pool(make_store(redis_url), lease_ttl=0.5)
    crashed.configure([BackendSpec(name="b", keys=(k("a", max_concurrency=1),), max_wait=0)])
    assert isinstance(await crashed.acquire("b"), Lease)  # never released
    other = Pool(make_store(redis_url), lease_ttl=0.5)
    other.configure([BackendSpec(name="b", keys=(k("a", max_concurrency=1),), max_wait=0)])
    assert isinstance(await other.acquire("b"), NoKey)
    await asyncio.sleep(0.6)
    assert isinstance(await other.acquire("b"), Lease)
    await crashed.close()
    await other.close()


async def test_redis_shares_cooldowns_disabled_flags_and_usage(redis_url: str) -> None:
    p1, p2 = (
        pool_with(k("a"), k("b"), store=make_store(redis_url)),
        pool_with(k("a"), k("b"), store=make_store(redis_url)),
    )
    lease = await take(p1, exclude=("b",))
    await p1.release(lease, Outcome(status=401, usage=TokenUsage(input=3, output=4)))
    for _ in range(3):
        assert (await take(p2)).key_name == "b"
    states = {s.name: s for s in await p2.snapshot()}
    assert states["a"].disabled and states["a"].requests == 1 and states["a"].output_tokens == 4
    await p1.close()
    await p2.close()


async def test_pacing_spaces_request_starts_on_a_key() -> None:
    clock = Clock()
    pool = pool_with(k("a", pace_ms=500), clock=clock)
    await take(pool)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(0.5)
    clock.now += 0.5
    await take(pool)
