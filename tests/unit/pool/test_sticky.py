"""Session stickiness: a conversation stays on one key while it is healthy, so the
provider's prompt cache is reused; it moves only when that key cannot serve."""

from __future__ import annotations

from collections import Counter

from crosswire.pool import Outcome

from .conftest import StoreFactory
from .helpers import Clock, key, make_pool, take


async def test_a_session_sticks_to_its_key_while_healthy(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"))
    first = await take(pool, session="conv-1")
    for _ in range(6):
        lease = await take(pool, session="conv-1")
        assert lease.key_name == first.key_name
        await pool.release(lease, Outcome(status=200))


async def test_sessions_spread_over_the_keys(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"))
    names = Counter([(await take(pool, session=f"conv-{i}")).key_name for i in range(30)])
    assert names == {"a": 10, "b": 10, "c": 10}


async def test_a_session_moves_when_its_key_cools_and_stays_on_the_new_one(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), key("c"), clock=clock)
    first = await take(pool, session="conv-1")
    await pool.release(first, Outcome(status=429, headers={"retry-after": "30"}))
    moved = await take(pool, session="conv-1")
    assert moved.key_name != first.key_name
    clock.now += 40  # the first key is back, but the conversation's cache is on the new one
    for _ in range(3):
        assert (await take(pool, session="conv-1")).key_name == moved.key_name


async def test_a_session_keeps_its_key_through_a_moment_of_full_concurrency(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a", max_concurrency=1), key("b"), key("c"))
    first = await take(pool, session="conv-1", exclude={"b", "c"})
    assert first.key_name == "a"
    elsewhere = await take(pool, session="conv-1")
    assert elsewhere.key_name != "a", "a is busy: served by another key meanwhile"
    await pool.release(first, Outcome(status=200))
    assert (await take(pool, session="conv-1")).key_name == "a", "and back to its own key"


async def test_a_failover_rebinds_the_session_to_the_key_that_served(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"))
    first = await take(pool, session="conv-1")
    second = await take(pool, session="conv-1", exclude={first.key_name})
    await pool.release(first, Outcome(status=503))
    await pool.release(second, Outcome(status=200))
    assert (await take(pool, session="conv-1")).key_name == second.key_name


async def test_a_session_binding_lapses_after_its_ttl(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), key("c"), clock=clock, sticky_ttl=60)
    first = await take(pool, session="conv-1")  # rotation position r
    await take(pool)  # r + 1
    assert (await take(pool, session="conv-1")).key_name == first.key_name  # bound (not r + 2)
    clock.now += 61
    assert (await take(pool)).key_name == first.key_name  # r + 3 = r
    assert (await take(pool, session="conv-1")).key_name != first.key_name  # r + 4: unbound


async def test_stickiness_can_be_turned_off(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), sticky=False)
    names = [(await take(pool, session="conv-1")).key_name for _ in range(4)]
    assert Counter(names) == {"a": 2, "b": 2}
