"""A shared store that comes back after an outage gets what it missed: the releases of its
own leases (so they stop counting as in flight at once, not after their TTL) and what the
fallback's leases taught (requests, tokens)."""

from __future__ import annotations

from typing import Any

import pytest

from crosswire.pool import MemoryStore, Outcome, TokenUsage
from crosswire.pool import pool as pool_module

from .helpers import key, make_pool, take

_CALLS = ("acquire", "settle", "heartbeat", "states", "routes", "wait_freed")


class Flaky(MemoryStore):
    """A store that claims to be shared and can be taken away."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def __getattribute__(self, name: str) -> Any:
        if name in _CALLS and object.__getattribute__(self, "down"):
            raise ConnectionError("store away")
        return super().__getattribute__(name)


async def test_the_store_gets_missed_releases_when_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool_module, "DEGRADED_FOR", 0.0)  # retry the store at once
    store = Flaky()
    pool = make_pool(store, key("a"))
    shared = await take(pool)
    assert not shared.local
    store.down = True
    await pool.release(shared, Outcome(status=200, usage=TokenUsage(10, 5, 0)))
    local = await take(pool)
    assert local.local
    await pool.release(local, Outcome(status=200, usage=TokenUsage(1, 2, 0)))
    never_sent = await take(pool)
    await pool.release(never_sent, Outcome(status=0))  # nothing to tell the store

    store.down = False
    [state] = await store.states("b", [key("a")], pool.clock())
    assert state.in_flight == 1 and state.requests == 0  # the first lease, still held there
    [seen] = await pool.snapshot()  # the store answers again: the missed releases first
    assert seen.in_flight == 0
    assert seen.requests == 2
    assert (seen.input_tokens, seen.output_tokens) == (11, 7)
    again = await take(pool)
    assert not again.local
    await pool.release(again, Outcome(status=200))
    [state] = await store.states("b", [key("a")], pool.clock())
    assert (state.in_flight, state.requests) == (0, 3)
    await pool.close()


async def test_a_store_still_away_keeps_what_it_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "DEGRADED_FOR", 0.0)
    store = Flaky()
    pool = make_pool(store, key("a"))
    lease = await take(pool)
    store.down = True
    await pool.release(lease, Outcome(status=200))
    await pool.snapshot()  # fails over to the local state; nothing replayed
    assert len(pool._missed) == 1
    store.down = False
    await take(pool)
    assert not pool._missed
    await pool.close()
