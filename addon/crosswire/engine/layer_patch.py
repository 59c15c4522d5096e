"""One narrow change to mitmproxy's HTTP layer: a routed flow whose upstream fails is answered
in the app's own protocol, not with mitmproxy's HTML page or a bare cut.

Why a patch: when the upstream connection fails (refused, reset, TLS, timeout, closed mid-body),
mitmproxy runs the ``error`` hook and then sends its own error to the client — an HTML "502 Bad
Gateway" page before the response headers, a closed connection after them. An SDK reads the
first as an unparseable error and the second as a stream that silently ended. No addon API
changes that. This wraps ``HttpStream.handle_protocol_error`` for the flows the engine marks with
``expect_answer``: after the ``error`` hook (where the engine builds the answer, possibly by
failing over to another key in process), it sends that answer — a whole error response in the
app's shape, or, when a stream had already started, the protocol's error event and a clean end
of the stream. Every other flow, and anything unexpected, takes mitmproxy's own path.

Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses to patch a layer
whose shape differs, and the end-to-end fault tests fail loudly if the behaviour changes.
Background: docs/mitmproxy.md §9.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Generator
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


_EXPECTING: weakref.WeakKeyDictionary[http.HTTPFlow, Answer | None] = weakref.WeakKeyDictionary()
_installed = False


def expect_answer(flow: http.HTTPFlow) -> None:
    """Mark a routed flow: its upstream failures are answered by the engine's ``error`` hook."""
    _EXPECTING[flow] = None


def answer(flow: http.HTTPFlow, result: Answer) -> None:
    """Called from the ``error`` hook: what to send the app for this flow."""
    if flow in _EXPECTING:
        _EXPECTING[flow] = result


def install() -> bool:
    """Patch the layer once; False (and mitmproxy's default behaviour) if it has changed."""
    global _installed
    if _installed:
        return True
    try:
        from mitmproxy.proxy.layers import http as layer_http
        from mitmproxy.proxy.layers.http import _events, _hooks
    except ImportError:  # pragma: no cover - another mitmproxy layout
        log.warning("crosswire: unknown mitmproxy HTTP layer; upstream errors use its own pages")
        return False
    stream_cls = layer_http.HttpStream
    original = getattr(stream_cls, "handle_protocol_error", None)
    if original is None or not hasattr(stream_cls, "state_stream_response_body"):
        log.warning("crosswire: unknown mitmproxy HTTP layer; upstream errors use its own pages")
        return False

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
    return True
