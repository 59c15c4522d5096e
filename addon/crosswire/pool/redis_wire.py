"""The hot path to Redis: the acquire and settle scripts, pipelined on one connection.

Every proxied request runs one ``EVALSHA`` to acquire and one to settle. Through redis-py's
general command path each costs about 150 µs of Python per call (argument encoding one value
at a time, a connection checked out of the pool and back, a timeout context per read) — more
than the round trip and the script together. Here a request's command is joined from bytes
encoded once per key (``Resp``), written to one long-lived connection, and its reply matched
in order by a single reader task: concurrent requests share the connection the way an
auto-pipelining client does, so 64 requests in flight cost 64 writes and few reads.

The connection itself is redis-py's (``ConnectionPool.make_connection``): the URL's
authentication, database, TLS and Unix sockets are handled there. A command that does not
answer within ``timeout`` closes the connection (later replies could no longer be matched)
and fails every command waiting on it; the next command reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import deque
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


def bulk(value: str | bytes | int | float) -> bytes:
    """One RESP bulk string (floats as ``repr``: exact, and what the scripts parse)."""
    kind = value.__class__
    if kind is str:
        data = value.encode()  # type: ignore[union-attr]
    elif kind is bytes:
        data = value  # type: ignore[assignment]
    else:  # int, float, bool: repr is exact (str of a float is its repr)
        data = repr(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class Script:
    """A Lua script called by SHA, its source loaded once when Redis says ``NOSCRIPT``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._head = bulk("EVALSHA") + bulk(self.sha)
        self.load = b"*3\r\n" + bulk("SCRIPT") + bulk("LOAD") + bulk(source)

    def command(
        self, keys: Iterable[bytes], nkeys: int, args: Iterable[bytes], nargs: int
    ) -> bytes:
        """``EVALSHA sha nkeys KEYS… ARGV…`` from already-encoded bulk strings."""
        return b"".join((b"*%d\r\n" % (3 + nkeys + nargs), self._head, bulk(nkeys), *keys, *args))


class Lane:
    """One pipelined connection: commands go out in call order, replies come back in it.

    A command is written straight to the connection's stream writer (synchronously: redis-py's
    ``send_packed_command`` wraps each write in a timeout context, ~30 µs), and one timer per
    lane, not one per command, bounds the waits: replies come in order, so the oldest command
    is the one that is late first.
    """

    def __init__(
        self, url: str, *, connect_timeout: float, timeout: float, scripts: Iterable[Script] = ()
    ) -> None:
        # No socket timeout on the connection: the reader waits for replies indefinitely
        # while idle; the lane's timer bounds the waits.
        self._pool = aioredis.ConnectionPool.from_url(
            url, decode_responses=True, socket_connect_timeout=connect_timeout
        )
        self._timeout = timeout
        self._scripts = tuple(scripts)
        self._conn: Any = None
        #: Each command's future and when its reply is due (loop time), in wire order.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._connecting = asyncio.Lock()

    async def run(self, script: Script, command: bytes) -> Any:
        try:
            return await self._send(command)
        except NoScriptError:  # flushed since this connection loaded it
            await self._send(script.load)
            return await self._send(command)

    async def _send(self, command: bytes) -> Any:
        conn = self._conn
        if conn is None or self._reader is None or self._reader.done():
            conn = await self._connect()
        # Queued and written before this coroutine first suspends: wire order = queue order.
        future = self._expect()
        writer = getattr(conn, "_writer", None)
        if writer is not None:
            writer.write(command)  # a lost connection shows in the reader, which fails us
        else:  # pragma: no cover - another redis-py layout
            try:
                await conn.send_packed_command(command, check_health=False)
            except RedisConnectionError as exc:
                self._break(exc)
                raise
        return await future

    def _expect(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((future, loop.time() + self._timeout))
        if self._watch is None:
            self._watch = loop.call_at(loop.time() + self._timeout, self._check)
        return future

    def _check(self) -> None:
        """The lane's timer: the oldest command is late — the connection cannot be trusted."""
        self._watch = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        due = self._waiting[0][1]
        if loop.time() >= due:
            self._break(TimeoutError("Redis did not answer in time"))
        else:
            self._watch = loop.call_at(due, self._check)

    async def _connect(self) -> Any:
        async with self._connecting:
            if self._conn is not None and self._reader is not None and not self._reader.done():
                return self._conn
            conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
            await conn.connect()
            self._conn = conn
            loop = asyncio.get_running_loop()
            self._reader = loop.create_task(self._read(conn))
            # The scripts are loaded ahead of any call: a NOSCRIPT answer makes ``run`` send its
            # command again, after commands written meanwhile — and a release whose settle
            # overtook no acquire is what lets the pool send it without waiting.
            for script in self._scripts:
                self._expect().add_done_callback(_quiet)
                await conn.send_packed_command(script.load, check_health=False)
            return conn

    async def _read(self, conn: Any) -> None:
        try:
            while True:
                try:
                    reply = await conn.read_response(disconnect_on_error=False)
                except ResponseError as exc:  # this command's error; the stream is in step
                    self._resolve(exc, error=True)
                    continue
                self._resolve(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._break(exc)

    def _resolve(self, value: Any, *, error: bool = False) -> None:
        if not self._waiting:
            return
        future = self._waiting.popleft()[0]
        if future.done():  # its caller gave up (cancelled); the reply is still its own
            return
        if error:
            future.set_exception(value)
        else:
            future.set_result(value)

    def _break(self, exc: BaseException) -> None:
        """The connection can no longer be trusted: fail every waiter, drop it."""
        conn, self._conn = self._conn, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(RedisConnectionError(str(exc) or type(exc).__name__))
        if conn is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().create_task(conn.disconnect(nowait=True))

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.disconnect(nowait=True)
            self._conn = None
        await self._pool.aclose()


def _quiet(future: asyncio.Future[Any]) -> None:
    """A script load's reply: an error shows again (as NOSCRIPT) when the script is called."""
    if not future.cancelled():
        future.exception()
