"""Small builders shared by the pool tests."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from crosswire.pool import BackendSpec, KeySpec, Lease, Pool, Store
from crosswire.pool.model import Strategy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
T0 = 1_780_000_000.0  # a fixed "now" (2026) for tests on a fake clock


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(name: str, **kw: Any) -> KeySpec:
    return KeySpec(name=name, secret=f"sk-test-{name}-0123456789abcdef", **kw)


def make_pool(
    store: Store,
    *keys: KeySpec,
    strategy: Strategy = "round-robin",
    clock: Clock | None = None,
    max_wait: float = 0.0,
    sticky: bool = True,
    seed: int = 7,
    **kw: Any,
) -> Pool:
    pool = Pool(store, clock=clock or Clock(), rng=random.Random(seed), **kw)
    pool.configure(
        [BackendSpec(name="b", keys=keys, strategy=strategy, max_wait=max_wait, sticky=sticky)]
    )
    return pool


async def take(pool: Pool, **kw: Any) -> Lease:
    got = await pool.acquire("b", **kw)
    assert isinstance(got, Lease), got
    return got


def recorded(path: str) -> dict[str, Any]:
    """The response of a recorded exchange: status, lower-case headers, body bytes."""
    response = json.loads((FIXTURES / path).read_text())["response"]
    body = response.get("body")
    return {
        "status": response["status"],
        "headers": {k.lower(): v for k, v in response["headers"].items()},
        "body": body.encode() if isinstance(body, str) else json.dumps(body).encode(),
    }
