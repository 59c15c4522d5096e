"""What the key pool costs per request: acquire + release, against a bare round-robin.

    .venv/bin/python bench/pool_bench.py                 # starts a throw-away redis-server
    .venv/bin/python bench/pool_bench.py --redis redis://127.0.0.1:6379/0
    .venv/bin/python bench/pool_bench.py --no-redis

"v1 round-robin" is ``itertools.cycle`` over the keys — the least a proxy must do to rotate
keys. The pool does strategies, limits, stickiness and learning on top. Each line is the mean
cost of one ``acquire`` + one ``release`` (with an answer's rate-limit headers and usage),
in µs, one request at a time; for Redis also as the proxy releases (``release_soon``: the settle
is sent but its reply not awaited, so the next acquire goes out behind it at once — what a
request waits for is then one round trip), with 64 requests in flight at once (the cost per
request when round trips overlap), and the commands one request sends to Redis (the store's
connection is wrapped and counted: one for the acquire, one for the release). "On a request's
path" is what a proxied request waits for: requests 1 ms apart (a proxied request's own work is
more), so each settle is done before the next acquire, timed from the acquire to the release
sent (median). "Back to back" sends the next acquire right behind the settle: both scripts are
then on the path — the worst case, a sequential client with no work of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

from crosswire.pool import BackendSpec, KeySpec, Lease, Outcome, Pool, TokenUsage, make_store
from crosswire.pool.model import Strategy

#: What an OpenAI answer says (https://platform.openai.com/docs/guides/rate-limits).
HEADERS = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "4999",
    "x-ratelimit-reset-requests": "12ms",
    "x-ratelimit-limit-tokens": "160000",
    "x-ratelimit-remaining-tokens": "159976",
    "x-ratelimit-reset-tokens": "9ms",
}
USAGE = TokenUsage(input=80, output=20, cached=40)

SCENARIOS: list[tuple[str, Strategy, bool, bool]] = [
    # label, strategy, limits+session, answer headers
    ("round-robin, no limits, bare 200", "round-robin", False, False),
    ("least-busy, rpm/tpm/concurrency, sticky session, headers", "least-busy", True, True),
]


def make_pool(store_spec: str, strategy: Strategy, limited: bool) -> Pool:
    pool = Pool(make_store(store_spec, prefix=f"bench{uuid.uuid4().hex[:6]}:"))
    extra = {"max_concurrency": 1000, "rpm": 10**9, "tpm": 10**12} if limited else {}
    keys = tuple(KeySpec(name=f"k{i}", secret=f"s{i}", **extra) for i in range(4))  # type: ignore[arg-type]
    pool.configure([BackendSpec(name="b", keys=keys, strategy=strategy)])
    return pool


async def one(pool: Pool, i: int, limited: bool, headers: bool, soon: bool = False) -> None:
    session = f"conv-{i % 50}" if limited else None
    lease = await pool.acquire("b", session=session, est_tokens=100)
    assert isinstance(lease, Lease), lease
    outcome = Outcome(status=200, headers=HEADERS if headers else {}, usage=USAGE, route="bench")
    if soon:
        pool.release_soon(lease, outcome)  # as the proxy releases: the reply is not awaited
    else:
        await pool.release(lease, outcome)


async def sequential(
    store_spec: str, n: int, strategy: Strategy, limited: bool, headers: bool, soon: bool = False
) -> float:
    """The best of three rounds (a shared machine's noise only ever adds time). With ``soon``,
    a round ends when the last release's reply is in, so the background work is counted."""
    pool = make_pool(store_spec, strategy, limited)
    for i in range(min(n, 500)):  # warm up (scripts loaded, caches filled)
        await one(pool, i, limited, headers, soon)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            await one(pool, i, limited, headers, soon)
        await asyncio.gather(*pool._settling)
        best = min(best, time.perf_counter() - t)
    await pool.close()
    return best / n * 1e6


async def spaced(step: Callable[[int], Awaitable[object]], n: int) -> float:
    """The median µs of ``step(i)``, one call every millisecond after 200 unmeasured ones."""
    waits = []
    for i in range(n + 200):
        await asyncio.sleep(0.001)
        t = time.perf_counter()
        await step(i)
        if i >= 200:
            waits.append(time.perf_counter() - t)
    return statistics.median(waits) * 1e6


async def ping_spaced(url: str, n: int) -> float:
    """A bare PING round trip on the store's own kind of connection, 1 ms apart: the floor
    under "on a request's path" (on a VM, waking both processes from idle costs much of it)."""
    from crosswire.pool.redis_wire import Lane, bulk

    lane = Lane(url, connect_timeout=1.0, timeout=2.0)
    ping = b"*1\r\n" + bulk("PING")
    took = await spaced(lambda _: lane._send(ping), n)
    await lane.close()
    return took


async def on_path(
    store_spec: str, n: int, strategy: Strategy, limited: bool, headers: bool
) -> float:
    """What one request waits for in the proxy: its acquire, and the start of its release (the
    reply is not awaited). Requests come 1 ms apart — less than a proxied request's own work —
    so a settle is done before the next acquire, as in a proxy; the median of ``n``."""
    pool = make_pool(store_spec, strategy, limited)
    took = await spaced(lambda i: one(pool, i, limited, headers, soon=True), n)
    await pool.close()
    return took


async def concurrent(
    store_spec: str, n: int, strategy: Strategy, limited: bool, headers: bool
) -> float:
    pool = make_pool(store_spec, strategy, limited)
    await one(pool, 0, limited, headers)
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            await one(pool, i, limited, headers)

    t = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(64)])
    elapsed = time.perf_counter() - t
    await pool.close()
    return elapsed / n * 1e6


async def round_trips(store_spec: str, strategy: Strategy, limited: bool, headers: bool) -> float:
    """Commands sent to Redis per request (acquire + release), counted at the connection."""
    pool = make_pool(store_spec, strategy, limited)
    await one(pool, 0, limited, headers)  # connected, scripts loaded
    lane = pool.store._lane  # type: ignore[attr-defined]
    real = lane._send
    sent = 0

    async def counting(command: bytes) -> object:
        nonlocal sent
        sent += 1
        return await real(command)

    lane._send = counting
    for i in range(100):
        await one(pool, i + 1, limited, headers)
    await pool.close()
    return sent / 100


def round_robin(n: int) -> float:
    keys = itertools.cycle(["s0", "s1", "s2", "s3"])
    t = time.perf_counter()
    for _ in range(n):
        next(keys)
    return (time.perf_counter() - t) / n * 1e6


@contextmanager
def throwaway_redis() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
                        c.sendall(b"PING\r\n")
                        if c.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default=None, help="a Redis URL (default: start one)")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("-n", type=int, default=50_000)
    args = parser.parse_args()
    print(f"v1 round-robin (itertools.cycle):  {round_robin(args.n):8.2f} µs per request")
    for label, strategy, limited, headers in SCENARIOS:
        cost = asyncio.run(sequential("memory", args.n, strategy, limited, headers))
        print(f"memory store, {label}: {cost:8.2f} µs")
    if args.no_redis:
        return
    with throwaway_redis() if args.redis is None else _given(args.redis) as url:
        if url is None:
            print("redis-server not installed: Redis store not measured")
            return
        n = max(1000, args.n // 10)
        floor = asyncio.run(ping_spaced(url, min(n, 3000)))
        print(f"Redis PING round trip, 1 ms apart (the floor of a request's path): {floor:7.1f} µs")
        for label, strategy, limited, headers in SCENARIOS:
            seq = asyncio.run(sequential(url, n, strategy, limited, headers))
            soon = asyncio.run(sequential(url, n, strategy, limited, headers, soon=True))
            path = asyncio.run(on_path(url, min(n, 3000), strategy, limited, headers))
            par = asyncio.run(concurrent(url, n, strategy, limited, headers))
            trips = asyncio.run(round_trips(url, strategy, limited, headers))
            print(
                f"Redis store,  {label}:\n"
                f"    {path:7.1f} µs on a request's path (acquire + release sent, reply not awaited)\n"
                f"    {soon:7.1f} µs back to back, releasing so ({seq:.1f} µs awaiting each release)\n"
                f"    {par:7.1f} µs each with 64 requests in flight; {trips:.0f} commands per request"
            )


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
