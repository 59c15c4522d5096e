"""``acquire_now``: a lease without awaiting, from this process's memory — the same key the
awaited ``acquire`` would give — or None, untouched, whenever ``acquire`` has more to do."""

from __future__ import annotations

from collections import Counter

from crosswire.pool import Lease, MemoryStore, Outcome
from crosswire.pool.redis_store import RedisStore

from .helpers import key, make_pool, take


def now(pool: object, **kw: object) -> Lease:
    got = pool.acquire_now("b", **kw)  # type: ignore[attr-defined]
    assert isinstance(got, Lease), got
    return got


async def test_it_rotates_with_acquire_as_one_round_robin() -> None:
    pool = make_pool(MemoryStore(), key("a"), key("b"), key("c"))
    names = []
    for i in range(12):
        lease = now(pool) if i % 2 else await take(pool)
        names.append(lease.key_name)
        await pool.release(lease, Outcome(status=200))
    assert Counter(names) == {"a": 4, "b": 4, "c": 4}
    assert all(names[i] != names[i + 1] for i in range(11))


async def test_its_lease_is_counted_and_released_like_any_other() -> None:
    pool = make_pool(MemoryStore(), key("a", max_concurrency=1))
    lease = now(pool, est_tokens=40)
    assert (lease.backend, lease.key_name, lease.est_tokens, lease.local) == ("b", "a", 40, False)
    assert lease.secret == key("a").secret
    assert [s.in_flight for s in await pool.snapshot()] == [1]
    await pool.release(lease, Outcome(status=200))
    assert [s.in_flight for s in await pool.snapshot()] == [0]
    assert now(pool).key_name == "a"


async def test_a_busy_key_gives_none_and_leaves_the_wait_to_acquire() -> None:
    pool = make_pool(MemoryStore(), key("a", max_concurrency=1), max_wait=5.0)
    held = now(pool)
    assert pool.acquire_now("b") is None
    assert [s.in_flight for s in await pool.snapshot()] == [1]  # nothing taken by the refusal
    await pool.release(held, Outcome(status=200))
    assert now(pool).key_name == "a"


async def test_a_cooling_key_is_passed_over_for_a_free_one() -> None:
    pool = make_pool(MemoryStore(), key("a"), key("b"))
    first = now(pool)
    await pool.release(first, Outcome(status=429, headers={"retry-after": "30"}))
    assert {now(pool).key_name for _ in range(4)} == {"b" if first.key_name == "a" else "a"}


async def test_a_session_keeps_its_key() -> None:
    pool = make_pool(MemoryStore(), key("a"), key("b"), key("c"))
    first = await take(pool, session="conv-1")
    assert {now(pool, session="conv-1").key_name for _ in range(5)} == {first.key_name}


async def test_a_shared_store_or_an_unknown_backend_gives_none(
    redis_prefix_url: tuple[str, str],
) -> None:
    url, prefix = redis_prefix_url
    store = RedisStore(url, prefix=prefix)
    try:
        pool = make_pool(store, key("a"))
        assert pool.acquire_now("b") is None  # a round trip: only `acquire` makes it
        assert (await take(pool)).key_name == "a"
    finally:
        await store.close()
    memory = make_pool(MemoryStore(), key("a"))
    assert memory.acquire_now("no-such-backend") is None
