"""Connect and read timeouts for the requests mitmproxy sends itself (the direct path).

Why: mitmproxy has no upstream timeouts of its own — a connect waits for the OS (minutes for a
blackholed address), a TLS handshake or an answer's headers forever, and its ``tcp_timeout``
(default 600 s of silence on the *whole* client connection) ends by closing the app's
connection without a word. This gives every attempt the backend's options: ``connect_timeout`` until the connection (TCP
and TLS) is up, then ``read_timeout`` of silence before the headers, between two chunks of a
stream, and for a whole body to arrive after its headers.

How: one timer per flight on the event loop (``call_at``, no task; a stream re-arms it lazily,
so a chunk costs a clock read). When it expires, the task that serves the flow's upstream
connection is cancelled — mitmproxy's own way to drop a connection — so mitmproxy reports an
upstream failure and the engine's ``error`` hook answers in the app's protocol (a whole error,
or the stream's error event). Limits: an upstream connection multiplexed over HTTP/2 is shared
by several requests, so it is never cancelled (those flows keep mitmproxy's behaviour); and
this reaches into mitmproxy's connection handler, so if that changes the timer logs once and
does nothing (the end-to-end fault tests then fail).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mitmproxy import connection, ctx, http

from crosswire.engine.streaming import StreamCallable

log = logging.getLogger("crosswire")
_warned = False


class Deadline:
    """The timeouts of one direct request. ``expired`` says which one fired, for the record."""

    __slots__ = ("_timer", "connect", "expired", "flow", "last", "phase", "read")

    def __init__(self, flow: http.HTTPFlow, connect: float, read: float) -> None:
        self.flow = flow
        self.connect = connect
        self.read = read
        self.phase = "connect"
        self.last = time.monotonic()
        self.expired: str | None = None
        loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = loop.call_at(loop.time() + connect, self._check)

    def headers(self, streamed: bool) -> None:
        """The answer's headers arrived: from now on, its body must keep coming."""
        self.phase = "stream" if streamed else "body"
        self.last = time.monotonic()

    def watch(self, stream: StreamCallable) -> StreamCallable:
        """The stream callable, noting when each chunk arrives."""
        self.headers(streamed=True)
        clock = time.monotonic

        def watched(data: bytes) -> bytes | list[bytes]:
            self.last = clock()
            return stream(data)

        return watched

    @property
    def connect_expired(self) -> bool:
        return self.expired is not None and self.phase == "connect"

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        now = time.monotonic()
        if self.phase == "connect":
            if not _connected(self.flow):
                self._expire(f"no connection within connect_timeout ({self.connect:g} s)")
                return
            self.phase, self.last = "headers", now
        waited = now - self.last
        if waited < self.read:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + self.read - waited, self._check)
            return
        what = {
            "headers": "no answer within",
            "body": "the answer's body did not arrive within",
            "stream": "the stream was silent for",
        }[self.phase]
        self._expire(f"{what} read_timeout ({self.read:g} s)")

    def _expire(self, reason: str) -> None:
        if not self.flow.live or self.flow.error is not None:
            return
        if self.flow.server_conn.alpn == b"h2" and _connected(self.flow):
            return  # shared by other requests: not ours to drop
        task = _task_of(self.flow)
        if task is None:
            return
        self.expired = reason
        task.cancel()


def _connected(flow: http.HTTPFlow) -> bool:
    """mitmproxy sets ``flow.server_conn`` to the new connection once it is up (TCP and TLS)."""
    server = flow.server_conn
    if server.address != (flow.request.host, flow.request.port):
        return False  # still the app's original (never opened) or a previous request's
    if server.timestamp_tcp_setup is None:
        return False
    return not server.tls or server.timestamp_tls_setup is not None


def _task_of(flow: http.HTTPFlow) -> asyncio.Task[Any] | None:
    """The task that opens and reads the flow's upstream connection (mitmproxy's ``handler``)."""
    global _warned
    try:
        handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
        address = (flow.request.host, flow.request.port)
        # mitmproxy sets flow.server_conn once a connection is up; until then (or when it is a
        # failed earlier attempt's to the same address) the one still connecting is the flow's.
        # Its task is registered as soon as the connect starts.
        io = (
            handler.transports.get(flow.server_conn)
            if flow.server_conn.address == address
            else None
        )
        if io is None:
            io = next(
                (
                    found
                    for c, found in handler.transports.items()
                    if isinstance(c, connection.Server)
                    and c.address == address
                    and c.timestamp_tcp_setup is None
                ),
                None,
            )
        task: asyncio.Task[Any] | None = io.handler if io is not None else None
        return task
    except (AttributeError, KeyError, TypeError):
        if not _warned:
            _warned = True
            log.warning("crosswire: unknown mitmproxy connection handler; no upstream timeouts")
    return None
