"""A key's own limits, enforced before sending: max_concurrency (wait, bounded, or another
key), rpm and tpm budgets over a sliding minute, and pacing between request starts."""

from __future__ import annotations

import asyncio
import time

import pytest

from crosswire.pool import Lease, NoKey, Outcome, TokenUsage

from .conftest import StoreFactory
from .helpers import Clock, key, make_pool, take


async def test_a_busy_key_hands_the_request_to_another_key_without_waiting(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a", max_concurrency=1), key("b", max_concurrency=1))
    first, second = await take(pool), await take(pool)
    assert {first.key_name, second.key_name} == {"a", "b"}
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after is None
    assert refused.reason.startswith("all 2 keys of b busy: ")
    assert "(1/1 in flight)" in refused.reason


async def test_max_concurrency_waits_for_a_free_slot_and_is_woken_when_one_frees(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a", max_concurrency=1), clock=time.time, max_wait=2.0)  # type: ignore[arg-type]
    lease = await take(pool)
    waiter = asyncio.create_task(pool.acquire("b"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    started = time.monotonic()
    await pool.release(lease, Outcome(status=200))
    got = await waiter
    assert isinstance(got, Lease)
    assert time.monotonic() - started < 0.05, "woken by the release, not by a poll"


async def test_max_concurrency_wait_is_bounded_by_max_wait(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a", max_concurrency=1), clock=time.time, max_wait=0.3)  # type: ignore[arg-type]
    await take(pool)
    started = time.monotonic()
    refused = await pool.acquire("b")
    waited = time.monotonic() - started
    assert isinstance(refused, NoKey)
    assert 0.29 < waited < 0.6
    assert "(waited 0.3 s)" in refused.reason


async def test_rpm_budget_is_enforced_before_sending(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a", rpm=2), clock=clock)
    await take(pool)
    clock.now += 10
    await take(pool)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey)
    assert refused.retry_after == pytest.approx(50, abs=0.01), "when the oldest start leaves"
    assert "2/2 requests in the last minute" in refused.reason
    clock.now += 50.01
    await take(pool)


async def test_tpm_budget_counts_the_estimate_then_the_real_usage(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a", tpm=1000), clock=clock)
    lease = await take(pool, est_tokens=800)
    assert isinstance(await pool.acquire("b", est_tokens=300), NoKey), "800 + 300 > 1000"
    await pool.release(lease, Outcome(status=200, usage=TokenUsage(input=100, output=50)))
    second = await take(pool, est_tokens=300)  # 150 real + 300
    assert isinstance(await pool.acquire("b", est_tokens=600), NoKey)  # 450 + 600
    [state] = await pool.snapshot()
    assert state.tpm_used == 450 and state.tpm_limit == 1000
    await pool.release(second, Outcome(status=200, usage=TokenUsage(input=300, output=0)))
    clock.now += 60.5
    await take(pool, est_tokens=1000)  # the window has passed


async def test_a_request_never_sent_gives_its_rpm_and_tpm_reservations_back(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a", rpm=1, tpm=100))
    lease = await take(pool, est_tokens=90)
    await pool.release(lease, Outcome(status=0))
    await take(pool, est_tokens=90)
    [state] = await pool.snapshot()
    assert state.requests == 0 and state.rpm_used == 1 and state.tpm_used == 90


async def test_a_refused_answer_consumes_no_tokens_of_the_budget(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a", tpm=100), key("b"))
    lease = await take(pool, est_tokens=90, exclude={"b"})
    await pool.release(lease, Outcome(status=400, body=b'{"error":{"message":"bad"}}'))
    await take(pool, est_tokens=90, exclude={"b"})


async def test_pacing_spaces_request_starts_on_a_key(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a", pace_ms=500), clock=clock)
    await take(pool)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(0.5)
    assert "500 ms pacing" in refused.reason
    clock.now += 0.5
    await take(pool)


async def test_a_key_free_again_within_max_wait_is_waited_for(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a", pace_ms=150), clock=time.time, max_wait=1.0)  # type: ignore[arg-type]
    # Timed from before the first start: the pace runs from the first acquire's clock reading,
    # however long that acquire's own round trips (connect, script load) took.
    started = time.monotonic()
    await take(pool)
    await take(pool)
    assert 0.14 < time.monotonic() - started < 0.8


async def test_a_key_free_only_after_max_wait_is_refused_at_once(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a", rpm=1), clock=time.time, max_wait=1.0)  # type: ignore[arg-type]
    await take(pool)
    started = time.monotonic()
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(60, abs=1)
    assert time.monotonic() - started < 0.1, "no point waiting for a minute-long window"


async def test_a_release_without_waiting_is_seen_by_the_next_acquire_at_once(
    stores: StoreFactory,
) -> None:
    """The proxy does not wait for the store's reply to a release (``release_soon``): the
    settle is written before the next acquire, so a one-slot key is free for it already, and
    what the answer taught (a 429 cooling the key) holds for it too."""
    clock = Clock()
    pool = make_pool(stores(), key("a", max_concurrency=1), clock=clock)
    for _ in range(20):
        pool.release_soon(await take(pool), Outcome(status=200))
    pool.release_soon(await take(pool), Outcome(status=429, headers={"retry-after": "30"}))
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and "cooling" in refused.reason
    clock.now += 60
    pool.release_soon(await take(pool), Outcome(status=200, usage=TokenUsage(3, 4)))
    await pool.close()  # waits for the replies still out
    assert not pool._settling
    state = (await pool.snapshot())[0]
    assert (state.requests, state.in_flight, state.output_tokens) == (22, 0, 4)
