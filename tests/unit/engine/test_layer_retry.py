"""The in-layer failover, driven on a real mitmproxy ``HttpStream``: a retryable answer is hidden,
its body kept for the pool, the ``crosswire_retry`` hook asked; with another candidate the request
goes out again on a fresh server connection, without one the failure is the answer."""

from __future__ import annotations

from typing import Any

from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.options import Options
from mitmproxy.proxy import commands
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http import GetHttpConnection, HttpStream, SendHttp, _events, _hooks
from mitmproxy.test import tflow

from crosswire.engine import layer_patch, layer_retry
from crosswire.engine.layer_retry import CrosswireRetryHook


def options() -> Options:
    """mitmproxy's options with the proxy core's (body size limits and the like)."""
    opts = Options()
    Proxyserver().load(Loader(opts))
    return opts


class Loader:
    def __init__(self, opts: Options) -> None:
        self.opts = opts

    def add_option(self, name: str, typespec: Any, default: Any, help: str, **kw: Any) -> None:
        self.opts.add_option(name, typespec, default, help, kw.get("choices"))


def stream_for(flow: http.HTTPFlow) -> HttpStream:
    layer_retry.install()
    stream = HttpStream(Context(flow.client_conn, options()), 1)
    stream.flow = flow
    stream.client_state = stream.state_done
    stream.server_state = stream.state_wait_for_response_headers
    return stream


def answer(status: int) -> http.Response:
    return http.Response.make(status, b"", {"content-type": "application/json"})


def drive(gen: Any, replies: dict[type, Any] | None = None) -> list[Any]:
    """Run a layer generator to its end, answering blocking commands from ``replies``."""
    out: list[Any] = []
    reply = None
    try:
        while True:
            command = gen.send(reply)
            out.append(command)
            reply = (replies or {}).get(type(command))
            if callable(reply):
                reply = reply(command)
    except StopIteration:
        return out


def retry_hook(again: bool) -> Any:
    def on_hook(command: Any) -> None:
        assert isinstance(command, CrosswireRetryHook)
        if again:
            command.flow.request.url = "http://next.up:8080/v1/messages"
            layer_retry.again(command.flow)

    return on_hook


def test_install_is_idempotent() -> None:
    assert layer_retry.install() is True
    patched = HttpStream.state_wait_for_response_headers
    assert layer_retry.install() is True
    assert HttpStream.state_wait_for_response_headers is patched


def test_a_retryable_answer_is_hidden_and_the_request_sent_again() -> None:
    flow = tflow.tflow(resp=False)
    layer_retry.may_retry(flow)
    stream = stream_for(flow)
    # The 429's headers: nothing goes to the app, the body is collected.
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(429), False)))
    assert out == []
    drive(stream._handle_event(_events.ResponseData(1, b'{"error":"slow"}')))
    connection = flow.server_conn
    out = drive(
        stream._handle_event(_events.ResponseEndOfMessage(1)),
        {
            CrosswireRetryHook: retry_hook(again=True),
            GetHttpConnection: lambda c: (connection, None),
        },
    )
    hook = out[0]
    assert isinstance(hook, CrosswireRetryHook)
    sent = [c.event for c in out if isinstance(c, SendHttp)]
    assert [type(e) for e in sent] == [
        _events.RequestHeaders,
        _events.RequestData,
        _events.RequestEndOfMessage,
    ]
    assert sent[0].request.url == "http://next.up:8080/v1/messages"
    assert flow.response is None and flow.error is None
    assert stream.server_state == stream.state_wait_for_response_headers
    # The new answer goes on as usual (the responseheaders hook runs for it).
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(200), False)))
    assert isinstance(out[0], _hooks.HttpResponseHeadersHook)


def test_with_no_candidate_left_the_failure_is_the_answer() -> None:
    flow = tflow.tflow(resp=False)
    layer_retry.may_retry(flow)
    stream = stream_for(flow)
    drive(stream._handle_event(_events.ResponseHeaders(1, answer(503), False)))
    out = drive(
        stream._handle_event(_events.ResponseEndOfMessage(1)),
        {CrosswireRetryHook: retry_hook(again=False)},
    )
    kinds = [type(c) for c in out]
    assert kinds[:3] == [
        CrosswireRetryHook,
        _hooks.HttpResponseHeadersHook,
        _hooks.HttpResponseHook,
    ]
    assert flow.response is not None and flow.response.status_code == 503
    assert flow not in layer_retry._MAY_RETRY


def test_a_connection_failure_is_retried_before_the_error_path() -> None:
    flow = tflow.tflow(resp=False)
    layer_retry.may_retry(flow)
    layer_patch.expect_answer(flow)
    stream = stream_for(flow)
    connection = flow.server_conn
    error = _events.ResponseProtocolError(1, "Connection refused", _events.ErrorCode.CONNECT_FAILED)
    out = drive(
        stream.handle_protocol_error(error),
        {
            CrosswireRetryHook: retry_hook(again=True),
            GetHttpConnection: lambda c: (connection, None),
        },
    )
    assert isinstance(out[0], CrosswireRetryHook)
    assert not any(isinstance(c, _hooks.HttpErrorHook) for c in out)
    assert flow.error is None
    assert any(isinstance(c, SendHttp) and isinstance(c.event, _events.RequestHeaders) for c in out)


def test_an_unmarked_flow_sees_its_failure_as_usual() -> None:
    flow = tflow.tflow(resp=False)
    stream = stream_for(flow)
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(429), False)))
    assert isinstance(out[0], _hooks.HttpResponseHeadersHook)
    assert not any(isinstance(c, commands.StartHook) and c.name == "crosswire_retry" for c in out)
