"""The pipelined Redis connection: a silent server fails every waiting command once the oldest
is late (one timer per connection), and the next command connects again."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from crosswire.pool.redis_wire import Lane, bulk

PING = b"*1\r\n" + bulk("PING")


async def test_a_silent_server_fails_the_waiting_commands_within_the_timeout() -> None:
    accepted = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers the connection's handshake (redis-py's CLIENT SETINFO…), then nothing."""
        accepted.append(writer)
        while data := await reader.read(65536):
            if b"PING" in data:
                continue
            writer.write(b"+OK\r\n" * len(re.findall(rb"(?:^|\r\n)\*\d+\r\n", data)))

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lane = Lane(f"redis://127.0.0.1:{port}/0", connect_timeout=1.0, timeout=0.2)
    started = time.monotonic()
    first = asyncio.ensure_future(lane._send(PING))
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(lane._send(PING))
    for waiting in (first, second):
        with pytest.raises(RedisConnectionError, match="did not answer in time"):
            await waiting
    assert 0.19 < time.monotonic() - started < 0.6  # the oldest command's deadline, not the last
    third = asyncio.ensure_future(lane._send(PING))
    with pytest.raises(RedisConnectionError):
        await third
    assert len(accepted) == 2  # connected again after the broken connection
    await lane.close()
    server.close()


async def test_replies_are_matched_in_order_under_concurrency(pool_redis: str) -> None:
    lane = Lane(pool_redis, connect_timeout=1.0, timeout=2.0)
    echoes = [b"*2\r\n" + bulk("ECHO") + bulk(f"m{i}") for i in range(200)]
    replies = await asyncio.gather(*(lane._send(e) for e in echoes))
    assert replies == [f"m{i}" for i in range(200)]
    await lane.close()
