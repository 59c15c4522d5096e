"""Which key serves: round-robin, least-busy, weighted, and failover's exclusions — the same
rules on the memory store and on Redis (the ``stores`` fixture runs each test on both)."""

from __future__ import annotations

from collections import Counter

from crosswire.pool import NoKey, Outcome

from .conftest import StoreFactory
from .helpers import key, make_pool, take


async def test_round_robin_spreads_evenly(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"))
    names = []
    for _ in range(9):
        lease = await take(pool)
        names.append(lease.key_name)
        await pool.release(lease, Outcome(status=200))
    assert Counter(names) == {"a": 3, "b": 3, "c": 3}


async def test_round_robin_goes_on_rotating_while_leases_are_held(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"))
    names = [(await take(pool)).key_name for _ in range(6)]
    assert Counter(names) == {"a": 3, "b": 3}
    assert names[0] != names[1]


async def test_weighted_follows_the_weights_exactly(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("heavy", weight=3), key("light", weight=1), strategy="weighted")
    names = [(await take(pool)).key_name for _ in range(40)]
    assert Counter(names) == {"heavy": 30, "light": 10}
    assert "light" in names[:4], "smooth: the light key is not starved until the end"


async def test_weighted_keeps_proportions_among_the_keys_that_can_serve(
    stores: StoreFactory,
) -> None:
    pool = make_pool(
        stores(), key("a", weight=2), key("b", weight=1), key("c", weight=1), strategy="weighted"
    )
    first = await take(pool, exclude=("b", "c"))
    await pool.release(first, Outcome(status=401))  # a is disabled from now on
    names = [(await take(pool)).key_name for _ in range(20)]
    assert Counter(names) == {"b": 10, "c": 10}


async def test_least_busy_prefers_the_key_with_fewest_in_flight(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"), strategy="least-busy")
    held = [await take(pool) for _ in range(3)]
    assert sorted(lease.key_name for lease in held) == ["a", "b", "c"]
    freed = held[1]
    await pool.release(freed, Outcome(status=200))
    assert (await take(pool)).key_name == freed.key_name


async def test_least_busy_ties_rotate_so_load_spreads(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"), strategy="least-busy")
    names = []
    for _ in range(9):
        lease = await take(pool)  # every key idle: a three-way tie each time
        names.append(lease.key_name)
        await pool.release(lease, Outcome(status=200))
    assert Counter(names) == {"a": 3, "b": 3, "c": 3}


async def test_failover_skips_tried_keys_and_spreads_over_the_rest(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"), key("c"), key("d"))
    names = Counter([(await take(pool, exclude={"a"})).key_name for _ in range(60)])
    assert "a" not in names
    assert set(names) == {"b", "c", "d"} and min(names.values()) >= 8, names


async def test_every_key_already_tried_is_said_plainly(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"), key("b"))
    got = await pool.acquire("b", exclude=["a", "b"])
    assert isinstance(got, NoKey) and got.retry_after is None
    assert got.reason == "every key of b was already tried (a, b)"


async def test_a_backend_without_keys_is_refused(stores: StoreFactory) -> None:
    pool = make_pool(stores(), key("a"))
    got = await pool.acquire("nope")
    assert isinstance(got, NoKey) and "no keys configured" in got.reason
