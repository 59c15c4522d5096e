"""One real redis-server for the whole pool test session, and stores of both kinds.

Behaviour tests take the ``stores`` fixture, parametrised over the memory and the Redis
store: the same rules must hold in both (the Redis store runs them as Lua scripts). Each test
gets its own key prefix, so tests never see each other's state.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from crosswire.pool import MemoryStore, Store
from crosswire.pool.redis_store import RedisStore


@pytest.fixture(scope="session")
def pool_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://`` URL of a redis-server (the Debian package) on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir: Path = tmp_path_factory.mktemp("redis")
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
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """A factory of stores; Redis stores made in one test share state (like instances)."""
    made: list[Store] = []
    if request.param == "memory":
        shared = MemoryStore()

        def factory() -> Store:
            return shared

    else:
        url = request.getfixturevalue("pool_redis")
        prefix = f"t{uuid.uuid4().hex[:8]}:"

        def factory() -> Store:
            store = RedisStore(url, prefix=prefix)
            made.append(store)
            return store

    yield factory
    for store in made:
        await store.close()


@pytest.fixture
async def redis_prefix_url(pool_redis: str) -> AsyncIterator[tuple[str, str]]:
    """(url, fresh prefix) for Redis-only tests."""
    yield pool_redis, f"t{uuid.uuid4().hex[:8]}:"
