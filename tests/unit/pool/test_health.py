"""Keys come back on their own: cooldowns lapse, disabled keys are probed and re-enabled, a
config reload keeps what is known about unchanged keys and forgets it for rotated secrets;
and when no key can serve, the refusal says why and when to come back."""

from __future__ import annotations

import pytest

from crosswire.pool import BackendSpec, KeySpec, Lease, NoKey, Outcome, Pool

from .conftest import StoreFactory
from .helpers import Clock, key, make_pool, take

UNAUTHORIZED = (
    b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
)


async def disable(pool: Pool, name: str = "a") -> None:
    others = {k.name for k in pool.backends["b"].keys} - {name}
    lease = await take(pool, exclude=others)
    await pool.release(lease, Outcome(status=401, body=UNAUTHORIZED))


async def test_a_disabled_key_is_probed_every_interval_and_a_good_probe_reenables_it(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await disable(pool)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after is None
    assert refused.reason == (
        "the only key of b is disabled: a (401 authentication_error: invalid x-api-key)"
    )
    assert pool.due_probes() == []
    clock.now += 60
    [(backend, spec)] = pool.due_probes()
    assert (backend, spec.name) == ("b", "a") and spec.secret.startswith("sk-test-a")
    assert pool.due_probes() == [], "handed out once per interval"
    await pool.mark_probe("b", "a", False, reason="401 still rejected")
    [state] = await pool.snapshot()
    assert state.disabled and state.disabled_reason == "401 still rejected"
    clock.now += 60
    [(_, spec)] = pool.due_probes()
    await pool.mark_probe("b", "a", True)
    assert isinstance(await pool.acquire("b"), Lease)
    clock.now += 600
    assert pool.due_probes() == []


async def test_a_key_disabled_by_another_instance_is_probed_here_too(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    first = make_pool(stores(), key("a"), key("b"), clock=clock)
    await disable(first)
    second = make_pool(stores(), key("a"), key("b"), clock=clock)
    await second.snapshot()  # or any acquire that meets the disabled key
    clock.now += 60
    assert [spec.name for _, spec in second.due_probes()] == ["a"]


async def test_a_cooled_key_comes_back_when_its_time_passes(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    lease = await take(pool)
    await pool.release(lease, Outcome(status=429, headers={"retry-after": "5"}))
    assert isinstance(await pool.acquire("b"), NoKey)
    clock.now += 5.6
    assert isinstance(await pool.acquire("b"), Lease)


async def test_configure_keeps_the_state_of_unchanged_keys(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), clock=clock)
    await disable(pool, "a")
    lease = await take(pool)
    await pool.release(lease, Outcome(status=429, headers={"retry-after": "30"}))
    pool.configure([BackendSpec(name="b", keys=(key("a"), key("b"), key("c")), max_wait=0)])
    states = {s.name: s for s in await pool.snapshot()}
    assert states["a"].disabled and states["b"].cooling_until and states["b"].requests == 1
    assert (await take(pool)).key_name == "c"


async def test_a_rotated_secret_starts_clean_even_in_another_instance(
    stores: StoreFactory,
) -> None:
    """The store compares fingerprints, so this holds across restarts and between instances
    sharing Redis — not only within one process's reload."""
    clock = Clock()
    old = make_pool(stores(), key("a"), clock=clock)
    await disable(old)
    rotated = KeySpec(name="a", secret="sk-rotated-0123456789abcdef")
    old.configure([BackendSpec(name="b", keys=(rotated,), max_wait=0)])
    assert isinstance(await old.acquire("b"), Lease), "reload with the new secret"
    await disable(old)
    restarted = Pool(stores(), clock=clock)
    restarted.configure([BackendSpec(name="b", keys=(key("a"),), max_wait=0)])
    assert isinstance(await restarted.acquire("b"), Lease), "another secret again: clean"


async def test_a_refusal_names_every_key_and_the_soonest_time(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), key("c"), clock=clock)
    for name, wait in (("a", "30"), ("b", "10"), ("c", "20")):
        lease = await take(pool, exclude={"a", "b", "c"} - {name})
        await pool.release(lease, Outcome(status=429, headers={"retry-after": wait}))
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey)
    assert refused.retry_after is not None and 10 <= refused.retry_after <= 11.1
    assert refused.reason.startswith("all 3 keys of b cooling: ")
    for name in "abc":
        assert f"{name} until " in refused.reason
    mixed = make_pool(stores(), key("x", max_concurrency=1), key("y"), clock=clock)
    await take(mixed, exclude={"y"})
    await disable(mixed, "y")
    refused = await mixed.acquire("b")
    assert isinstance(refused, NoKey)
    assert refused.reason.startswith("no key of b is free: ")
    assert "x busy (1/1 in flight)" in refused.reason
    assert "y disabled (401 authentication_error: invalid x-api-key)" in refused.reason


async def test_a_failover_refusal_says_which_keys_were_already_tried(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), clock=clock)
    lease = await take(pool, exclude={"a"})
    await pool.release(lease, Outcome(status=529))
    refused = await pool.acquire("b", exclude={"a"})
    assert isinstance(refused, NoKey)
    assert refused.reason.startswith("the last untried key of b is cooling: b until ")
    assert refused.reason.endswith("; already tried: a")
    assert refused.retry_after == pytest.approx(1.0, abs=0.3)


async def test_a_good_probe_reenables_the_key_but_keeps_its_quota_cooldown(
    stores: StoreFactory,
) -> None:
    """Authenticating again says nothing about the quota: that cooldown runs its course."""
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    lease = await take(pool)
    body = b'{"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"x"}}'
    await pool.release(lease, Outcome(status=429, body=body))
    await pool.mark_probe("b", "a", True)
    [state] = await pool.snapshot()
    assert not state.disabled and state.cooling_until is not None
    assert (state.cooldown_reason or "").startswith("quota exhausted")
