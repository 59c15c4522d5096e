"""Connect and read timeouts for the requests mitmproxy sends itself (the direct path).

Why: mitmproxy has no upstream timeouts of its own — a connect waits for the OS (minutes for a
blackholed address), a TLS handshake or an answer's headers forever, and its ``tcp_timeout``
(default 600 s of silence on the *whole* client connection) ends by closing the app's
connection without a word. This gives every attempt the backend's options: ``connect_timeout``
until the connection (TCP and TLS) is up, then ``read_timeout`` of silence before the headers,
between two chunks of a stream, and for a whole body to arrive after its headers.

How: one sweep for all flights (``Deadlines``: a timer every ``TICK`` while any attempt is in
the air, so a timeout fires at most that much late). An attempt only joins and leaves a dict —
an event-loop timer of its own (``call_at`` and ``cancel``) cost more than the rest of the
request's timing (the handle copies the task's context); a streamed chunk costs a clock read.
When a timeout expires, the task that serves the flow's upstream connection is cancelled —
mitmproxy's own way to drop a connection — so mitmproxy reports an upstream failure and the
engine's ``error`` hook answers in the app's protocol (a whole error, or the stream's error
event). Limits: an upstream connection multiplexed over HTTP/2 is shared by several requests,
so it is never cancelled (those flows keep mitmproxy's behaviour); and this reaches into
mitmproxy's connection handler, so if that changes the timer logs once and does nothing (the
end-to-end fault tests then fail).
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


#: How often the sweep looks at the attempts in the air (seconds): a timeout's precision.
TICK = 0.05


class Deadlines:
    """The attempts in the air, and the one timer that checks them (see the module docstring)."""

    def __init__(self) -> None:
        self.active: dict[Deadline, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, flow: http.HTTPFlow, connect: float, read: float) -> Deadline:
        """Time one attempt: ``connect`` seconds to be connected, then ``read`` of silence."""
        deadline = Deadline(self, flow, connect, read)
        self.active[deadline] = None
        if self._timer is None or self._loop is not asyncio.get_running_loop():
            self._schedule()
        return deadline

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self.close()
        loop = self._loop = asyncio.get_running_loop()
        self._timer = loop.call_later(TICK, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        for deadline in [d for d in self.active if d.due <= now]:
            deadline.check(now)
        if self.active:
            self._schedule()


class Deadline:
    """The timeouts of one direct request. ``expired`` says which one fired, for the record."""

    __slots__ = ("connect", "due", "expired", "flow", "last", "owner", "phase", "read")

    def __init__(self, owner: Deadlines, flow: http.HTTPFlow, connect: float, read: float) -> None:
        self.owner = owner
        self.flow = flow
        self.connect = connect
        self.read = read
        self.phase = "connect"
        self.last = time.monotonic()
        #: When the sweep looks next (a stream's chunks move ``last``, not this).
        self.due = self.last + connect
        self.expired: str | None = None

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
        self.owner.active.pop(self, None)

    def check(self, now: float) -> None:
        """From the sweep, once ``due`` has passed."""
        if self.phase == "connect":
            if not _connected(self.flow):
                self.stop()
                self._expire(f"no connection within connect_timeout ({self.connect:g} s)")
                return
            self.phase, self.last = "headers", now
        waited = now - self.last
        if waited < self.read:
            self.due = self.last + self.read
            return
        self.stop()
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
