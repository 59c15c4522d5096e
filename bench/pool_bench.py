"""What the key pool costs per request: acquire + release, against a bare round-robin.

    .venv/bin/python bench/pool_bench.py [--redis redis://127.0.0.1:6379/0]

"v1 round-robin" is ``itertools.cycle`` over the keys — the least a proxy must do to rotate
keys. The pool does strategies, limits, stickiness and learning on top; this prints both in µs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

from crosswire.pool import BackendSpec, KeySpec, Outcome, Pool, TokenUsage, make_store

N = 20_000
HEADERS = {"x-ratelimit-remaining-requests": "4999", "x-ratelimit-reset-requests": "12ms"}


async def measure(store_spec: str, n: int) -> float:
    pool = Pool(make_store(store_spec))
    keys = tuple(
        KeySpec(name=f"k{i}", secret=f"s{i}", max_concurrency=64, rpm=10**9) for i in range(4)
    )
    pool.configure([BackendSpec(name="b", keys=keys, strategy="least-busy")])
    for _ in range(200):
        await pool.release(await pool.acquire("b", session="s"), Outcome(status=200))  # type: ignore[arg-type]
    t = time.perf_counter()
    for i in range(n):
        lease = await pool.acquire("b", session=f"s{i % 50}", est_tokens=100)
        await pool.release(
            lease, Outcome(status=200, headers=HEADERS, usage=TokenUsage(input=80, output=20))
        )  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t
    await pool.close()
    return elapsed / n * 1e6


def round_robin(n: int) -> float:
    keys = itertools.cycle(["s0", "s1", "s2", "s3"])
    t = time.perf_counter()
    for _ in range(n):
        next(keys)
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    print(f"v1 round-robin (itertools.cycle): {round_robin(N):7.2f} µs per request")
    print(
        f"pool, memory store:               {asyncio.run(measure('memory', N)):7.2f} µs per request "
        "(least-busy, stickiness, rpm, header learning, usage)"
    )
    if args.redis:
        print(
            f"pool, Redis store:                {asyncio.run(measure(args.redis, 2000)):7.2f} µs per request"
        )


if __name__ == "__main__":
    main()
