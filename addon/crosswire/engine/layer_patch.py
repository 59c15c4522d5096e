"""Two narrow changes to mitmproxy's HTTP layer: a routed flow whose upstream fails is answered
in the app's own protocol (not with mitmproxy's HTML page or a bare cut), and a streamed answer
whose upstream is silent gets the app protocol's keep-alives.

Why a patch: when the upstream connection fails (refused, reset, TLS, timeout, closed mid-body),
mitmproxy runs the ``error`` hook and then sends its own error to the client — an HTML "502 Bad
Gateway" page before the response headers, a closed connection after them. An SDK reads the
first as an unparseable error and the second as a stream that silently ended. No addon API
changes that. This wraps ``HttpStream.handle_protocol_error`` for the flows the engine marks with
``expect_answer``: after the ``error`` hook (where the engine builds the answer, possibly by
failing over to another key in process), it sends that answer — a whole error response in the
app's shape, or, when a stream had already started, the protocol's error event and a clean end
of the stream. Every other flow, and anything unexpected, takes mitmproxy's own path.

Why the keep-alives need the layer too: a response's ``stream`` callable only runs when upstream
bytes arrive, so nothing in the addon API can write to the app while the upstream is silent (a
thinking model can be silent for minutes; some clients give up). The layer can: ``HttpLayer``
routes a stream's ``RequestWakeup`` back to that stream as a ``Wakeup`` event. For the flows the
engine registers with ``keepalive``, the stream arms a wakeup when its response stream starts;
on each wakeup it sends the keep-alive bytes if nothing went to the app for ``interval`` seconds
and the bytes sent so far end with a complete event, and re-arms while the stream is open.

Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses to patch a layer
whose shape differs, and the end-to-end fault tests fail loudly if the behaviour changes.
Background: docs/mitmproxy.md §9.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http

log = logging.getLogger("crosswire")


@dataclass(slots=True)
class Answer:
    """What the app gets instead of mitmproxy's error: ``response`` when nothing was sent yet,
    ``tail`` (the stream's closing error event) when a stream had started."""

    response: http.Response | None = None
    tail: bytes = b""


@dataclass(slots=True)
class KeepAlive:
    """One registered stream: what to send, how often, and what the app has received so far."""

    data: bytes
    interval: float
    #: When the last byte went to the app (monotonic); set when the stream starts.
    last: float = 0.0
    #: The last bytes sent to the app: a keep-alive goes only after a complete event.
    tail: bytes = b"\n\n"
    ended: bool = False
    sent: int = 0

    def track(self, out: bytes | list[bytes]) -> None:
        """What the stream callable returned for the app."""
        for chunk in (out,) if isinstance(out, bytes) else out:
            if chunk:
                self.tail = chunk[-4:] if len(chunk) >= 4 else (self.tail + chunk)[-4:]
                self.last = _clock()

    @property
    def at_boundary(self) -> bool:
        return self.tail.endswith(_EVENT_ENDS)


#: The keep-alive clock (a module attribute, so tests can drive it).
_clock = time.monotonic

#: How an SSE event ends (the spec allows all three line endings).
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")

_EXPECTING: weakref.WeakKeyDictionary[http.HTTPFlow, Answer | None] = weakref.WeakKeyDictionary()
_KEEPALIVE: weakref.WeakKeyDictionary[http.HTTPFlow, KeepAlive] = weakref.WeakKeyDictionary()
_installed = False
_keepalive_installed = False


def expect_answer(flow: http.HTTPFlow) -> None:
    """Mark a routed flow: its upstream failures are answered by the engine's ``error`` hook."""
    _EXPECTING[flow] = None


def expects_answer(flow: http.HTTPFlow) -> bool:
    """Whether the flow is a routed one (``expect_answer``)."""
    return flow in _EXPECTING


def answer(flow: http.HTTPFlow, result: Answer) -> None:
    """Called from the ``error`` hook: what to send the app for this flow."""
    if flow in _EXPECTING:
        _EXPECTING[flow] = result


def keepalive(flow: http.HTTPFlow, data: bytes, interval: float) -> None:
    """Register a streamed answer: while it is open, send ``data`` to the app whenever nothing
    was sent for ``interval`` seconds (only between events). No-op for empty ``data``, a zero
    interval, or a mitmproxy whose layer could not be patched."""
    if data and interval > 0 and _keepalive_installed:
        _KEEPALIVE[flow] = KeepAlive(data, interval)


def keepalives_sent(flow: http.HTTPFlow) -> int:
    """How many keep-alives went to the app on this flow (tests, the record)."""
    state = _KEEPALIVE.get(flow)
    return state.sent if state is not None else 0


def http_layer(needed: tuple[str, ...], without: str) -> tuple[Any, Any, Any] | None:
    """mitmproxy's HTTP layer module, its events and hooks — or None (logged: what crosswire
    does ``without`` the patch) when ``HttpStream`` lacks a method a patch relies on."""
    try:
        from mitmproxy.proxy.layers import http as layer_http
        from mitmproxy.proxy.layers.http import _events, _hooks
    except ImportError:  # pragma: no cover - another mitmproxy layout
        log.warning("crosswire: unknown mitmproxy HTTP layer; %s", without)
        return None
    if not all(hasattr(layer_http.HttpStream, n) for n in needed):
        log.warning("crosswire: unknown mitmproxy HTTP layer; %s", without)
        return None
    return layer_http, _events, _hooks


def install() -> bool:
    """Patch the layer once; False (and mitmproxy's default behaviour) if it has changed."""
    global _installed
    if _installed:
        return True
    found = http_layer(
        ("handle_protocol_error", "state_stream_response_body"), "upstream errors use its pages"
    )
    if found is None:
        return False
    layer_http, _events, _hooks = found
    stream_cls = layer_http.HttpStream
    original = stream_cls.handle_protocol_error

    SendHttp = layer_http.SendHttp
    DropStream = layer_http.DropStream

    def handle_protocol_error(self: Any, event: Any) -> Generator[Any, Any, None]:
        flow = getattr(self, "flow", None)
        if (
            not isinstance(event, _events.ResponseProtocolError)
            or flow is None
            or flow not in _EXPECTING
            or self.client_state == self.state_errored
            or self.server_state in (self.state_done, self.state_errored)
        ):
            yield from original(self, event)
            return
        started = self.server_state == self.state_stream_response_body
        flow.error = mflow.Error(event.message)
        yield _hooks.HttpErrorHook(flow)
        result = _EXPECTING.pop(flow, None)
        if (yield from self.check_killed(False)):
            return
        client = self.context.client
        sid = self.stream_id
        if result is None or (not started and result.response is None):
            yield SendHttp(event, client)  # nothing better to say: mitmproxy's own answer
        elif started:
            if result.tail:
                yield SendHttp(_events.ResponseData(sid, result.tail), client)
            yield SendHttp(_events.ResponseEndOfMessage(sid), client)
        else:
            assert result.response is not None
            flow.response = result.response
            body = result.response.raw_content or b""
            yield SendHttp(_events.ResponseHeaders(sid, result.response, not body), client)
            if body:
                yield SendHttp(_events.ResponseData(sid, body), client)
            yield SendHttp(_events.ResponseEndOfMessage(sid), client)
        self.server_state = self.state_errored
        flow.live = False
        yield DropStream(sid)

    stream_cls.handle_protocol_error = handle_protocol_error  # type: ignore[method-assign]
    _installed = True
    _install_keepalive(layer_http)
    return True


def _install_keepalive(layer_http: Any) -> bool:
    """Wrap ``HttpStream.start_response_stream`` (arm the first wakeup, watch what the stream
    callable sends) and ``HttpStream._handle_event`` (take our wakeups; everything else goes
    to mitmproxy's own code). Refused unless the layer routes wakeups back to the stream."""
    global _keepalive_installed
    if _keepalive_installed:
        return True
    from mitmproxy.proxy import commands, events

    stream_cls = layer_http.HttpStream
    start = getattr(stream_cls, "start_response_stream", None)
    handle = stream_cls.__dict__.get("_handle_event")
    try:
        routes_wakeups = "RequestWakeup" in inspect.getsource(layer_http.HttpLayer.event_to_child)
    except (OSError, TypeError, AttributeError):
        routes_wakeups = False
    if (
        start is None
        or handle is None
        or not routes_wakeups
        or not hasattr(stream_cls, "state_stream_response_body")
        or not hasattr(events, "Wakeup")
    ):
        log.warning("crosswire: unknown mitmproxy HTTP layer; no keep-alives on silent streams")
        return False

    SendHttp = layer_http.SendHttp
    ResponseData = layer_http.ResponseData

    class KeepAliveWakeup(commands.RequestWakeup):
        """Ours: told apart from any other wakeup a stream might ever get."""

    def start_response_stream(self: Any) -> Generator[Any, Any, None]:
        yield from start(self)
        flow = getattr(self, "flow", None)
        state = _KEEPALIVE.get(flow) if flow is not None else None
        resp = flow.response if flow is not None else None
        if state is None or resp is None or not callable(resp.stream):
            return
        resp.stream = _tracked(resp.stream, state)
        state.last = _clock()
        yield KeepAliveWakeup(state.interval)

    def on_wakeup(self: Any) -> Generator[Any, Any, None]:
        flow = getattr(self, "flow", None)
        state = _KEEPALIVE.get(flow) if flow is not None else None
        if (
            state is None
            or state.ended
            or self.server_state != self.state_stream_response_body
            or self.client_state == self.state_errored
        ):
            return  # the stream is over: let the wakeup lapse
        idle = _clock() - state.last
        if idle >= state.interval * 0.98 and state.at_boundary:
            yield SendHttp(ResponseData(self.stream_id, state.data), self.context.client)
            state.last = _clock()
            state.sent += 1
            idle = 0.0
        left = state.interval - idle
        yield KeepAliveWakeup(left if left > 0.01 else state.interval)

    def _handle_event(self: Any, event: Any) -> Generator[Any, Any, None]:
        if isinstance(event, events.Wakeup) and isinstance(event.command, KeepAliveWakeup):
            return on_wakeup(self)
        return handle(self, event)  # type: ignore[no-any-return]

    stream_cls.start_response_stream = start_response_stream
    stream_cls._handle_event = _handle_event
    _keepalive_installed = True
    return True


def _tracked(
    stream: Callable[[bytes], bytes | list[bytes]], state: KeepAlive
) -> Callable[[bytes], bytes | list[bytes]]:
    """The engine's stream callable, noting what it sends the app and when the stream ends."""

    def tracked(data: bytes) -> bytes | list[bytes]:
        out = stream(data)
        if out.__class__ is bytes and len(out) >= 4:  # the usual case, kept cheap
            state.tail = out[-4:]  # type: ignore[index]
            state.last = _clock()
        elif out:
            state.track(out)
        if not data:
            state.ended = True
        return out

    return tracked
