"""Failover inside mitmproxy's own HTTP layer: another attempt on the same flow, before the app
has seen a byte — for whole answers and streams alike, with no second hop.

mitmproxy sends a request once. When its answer is a retryable failure (429, 401/403, 5xx, 529)
or no connection could be made, a key pool wants to try the next key — transparently, so that
apps with their own retries off (Gemini, Node, SDKs with ``max_retries=0``) are served too.
No addon API does that, so this wraps two steps of ``HttpStream`` for the flows the engine marks
with ``may_retry``:

* response headers with a retryable status: the failed answer is not shown to the app; its
  (bounded) body is collected, then the ``crosswire_retry`` hook runs — the engine releases the
  failed key with what the answer taught, and points the flow at the next candidate (another key,
  or the next backend, converted). The request is sent again on a server connection for the new
  address, and the stream waits for the new answer's headers as if nothing had happened. When the
  engine has no candidate left, the last failure goes on as the answer (the ``response`` hook turns
  it into the app's error shape);
* a connection failure before the answer's headers: the same hook; with no candidate left the
  existing error path answers in the app's shape (``layer_patch``).

One failure is not the key's or the host's and needs no engine: the upstream closing a kept-alive
connection just as a request went out on it (its idle timeout racing the request; mitmproxy's
HTTP/1 client reports "server closed connection", not a byte of an answer received). Every
routed flow, pooled or not, is then sent again once, on a new connection, as HTTP clients do
with a reused connection that was closed under them.

So a pooled request costs what a single-key request costs; the attempts show in the flow's
comment and record, and the flow shows the request that was finally served.
Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses a layer of another
shape, and the end-to-end failover tests fail loudly if the behaviour changes.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from mitmproxy import http
from mitmproxy.proxy import commands

log = logging.getLogger("crosswire")

#: Statuses worth another key: a refused key, rate limits, overload, server errors.
RETRYABLE = frozenset({401, 403, 408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
#: How much of a failed answer's body is kept for the pool to learn from (error JSON is small).
FAILURE_BODY_LIMIT = 65536


@dataclass
class CrosswireRetryHook(commands.StartHook):
    """An attempt of a routed flow failed before the app saw a byte: ``flow.response`` holds the
    failed answer (status, headers, body) or ``flow.error`` the connection failure. The engine
    calls ``again(flow)`` if it pointed the flow at another candidate."""

    name: ClassVar[str] = "crosswire_retry"
    flow: http.HTTPFlow


_MAY_RETRY: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
_AGAIN: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
#: Flows already sent again after their kept-alive connection was closed under them.
_RESENT: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
#: mitmproxy's HTTP/1 client, when the server closed before a byte of the answer (``_http1.py``).
CLOSED_BEFORE_ANSWER = "server closed connection"
_installed = False


def may_retry(flow: http.HTTPFlow) -> None:
    """Mark a flow whose failed attempts the engine wants to hear about (``crosswire_retry``)."""
    _MAY_RETRY.add(flow)


def done_retrying(flow: http.HTTPFlow) -> None:
    _MAY_RETRY.discard(flow)


def again(flow: http.HTTPFlow) -> None:
    """From the ``crosswire_retry`` hook: the flow now points at another candidate; send it."""
    _AGAIN.add(flow)


def install() -> bool:
    """Patch the layer once (after ``layer_patch``, whose error answers this wraps)."""
    global _installed
    if _installed:
        return True
    from crosswire.engine import layer_patch

    layer_patch.install()
    needed = (
        "state_wait_for_response_headers",
        "handle_protocol_error",
        "make_server_connection",
        "send_response",
        "check_killed",
    )
    found = layer_patch.http_layer(needed, "no in-layer failover")
    if not found:
        return False
    layer_http, _events, _hooks = found
    stream_cls, SendHttp = layer_http.HttpStream, layer_http.SendHttp
    wait_headers = stream_cls.state_wait_for_response_headers
    protocol_error = stream_cls.handle_protocol_error

    def resend(self: Any) -> Generator[Any, Any, None]:
        """Send the flow's (retargeted) request again, and wait for its answer's headers."""
        flow = self.flow
        flow.response = None
        flow.error = None
        self.server_state = self.state_wait_for_response_headers
        ok = yield from self.make_server_connection()
        if not ok:
            return  # handle_protocol_error ran (and may have retried again)
        req = flow.request
        body = req.raw_content or b""
        server = self.context.server
        yield SendHttp(_events.RequestHeaders(self.stream_id, req, not body), server)
        if body:
            yield SendHttp(_events.RequestData(self.stream_id, body), server)
        yield SendHttp(_events.RequestEndOfMessage(self.stream_id), server)

    def ask_engine(self: Any) -> Generator[Any, Any, bool]:
        flow = self.flow
        _AGAIN.discard(flow)
        yield CrosswireRetryHook(flow)
        return flow in _AGAIN and flow.live

    def collect_failure(self: Any) -> Any:
        """A server state that keeps the failed answer's body, then asks the engine."""
        body = bytearray()

        def state(event: Any) -> Generator[Any, Any, None]:
            flow = self.flow
            if isinstance(event, _events.ResponseData):
                if len(body) < FAILURE_BODY_LIMIT:
                    body.extend(event.data[: FAILURE_BODY_LIMIT - len(body)])
                return
            if isinstance(event, _events.ResponseTrailers):
                return
            assert isinstance(event, _events.ResponseEndOfMessage)
            flow.response.data.content = bytes(body)
            if (yield from ask_engine(self)):
                _AGAIN.discard(flow)
                yield from resend(self)
                return
            # No candidate left: the last failure is the answer.
            _MAY_RETRY.discard(flow)
            yield _hooks.HttpResponseHeadersHook(flow)
            if (yield from self.check_killed(True)):
                return
            yield from self.send_response()

        return state

    def state_wait_for_response_headers(self: Any, event: Any) -> Generator[Any, Any, None]:
        flow = self.flow
        if (
            flow in _MAY_RETRY
            and isinstance(event, _events.ResponseHeaders)
            and event.response.status_code in RETRYABLE
        ):
            flow.response = event.response
            self.server_state = collect_failure(self)
            if event.end_stream:
                yield from self.server_state(_events.ResponseEndOfMessage(self.stream_id))
            return
        yield from wait_headers(self, event)

    def closed_under_request(self: Any, flow: http.HTTPFlow, event: Any) -> bool:
        """The upstream closed a connection that was already open before this request (kept
        alive from an earlier one), before answering it — once per flow."""
        setup = getattr(self.context.server, "timestamp_tcp_setup", None)
        started = flow.request.timestamp_start
        return (
            event.message == CLOSED_BEFORE_ANSWER
            and flow not in _RESENT
            and setup is not None
            and started is not None
            and setup < started
            and layer_patch.expects_answer(flow)
        )

    def handle_protocol_error(self: Any, event: Any) -> Generator[Any, Any, None]:
        flow = getattr(self, "flow", None)
        if (
            isinstance(event, _events.ResponseProtocolError)
            and flow is not None
            and self.client_state != self.state_errored
            and self.server_state == self.state_wait_for_response_headers
            and closed_under_request(self, flow, event)
        ):
            _RESENT.add(flow)
            log.info(
                "crosswire: %s closed a kept-alive connection under a request; "
                "sending it again on a new connection",
                flow.request.host,
            )
            yield from resend(self)
            return
        if (
            isinstance(event, _events.ResponseProtocolError)
            and flow is not None
            and flow in _MAY_RETRY
            and self.client_state != self.state_errored
            and self.server_state == self.state_wait_for_response_headers
        ):
            flow.error = mflow_error(event.message)
            if (yield from ask_engine(self)):
                _AGAIN.discard(flow)
                yield from resend(self)
                return
            _MAY_RETRY.discard(flow)
            flow.error = None
        yield from protocol_error(self, event)

    stream_cls.state_wait_for_response_headers = state_wait_for_response_headers  # type: ignore[method-assign]
    stream_cls.handle_protocol_error = handle_protocol_error  # type: ignore[method-assign]
    _installed = True
    return True


def mflow_error(message: str) -> Any:
    from mitmproxy import flow as mflow

    return mflow.Error(message)
