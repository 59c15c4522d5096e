"""Routing inside the HTTP layer, driven on a real mitmproxy ``HttpStream``: when the engine routes
the flow at once, the ``request`` hook is answered in process and mitmproxy's own code sends the
retargeted request (or the engine's answer); otherwise the hook runs as always."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http import GetHttpConnection, HttpStream, SendHttp, _events, _hooks
from mitmproxy.test import tflow

from crosswire.engine import layer_hooks, layer_retry
from tests.unit.engine.test_layer_retry import answer, drive, options, stream_for


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    assert layer_hooks.install() is True
    yield
    layer_hooks.enable(None, None)


def request_ending(flow: http.HTTPFlow, replies: dict[type, Any]) -> list[Any]:
    """The commands the stream yields when the app's request has fully arrived."""
    stream = HttpStream(Context(flow.client_conn, options()), 1)
    stream.flow = flow
    stream.client_state = stream.state_consume_request_body
    stream.server_state = stream.state_wait_for_response_headers
    connection = flow.server_conn
    replies = {GetHttpConnection: lambda c: (connection, None), **replies}
    drive(stream._handle_event(_events.RequestData(1, b'{"model":"m"}')))
    return drive(stream._handle_event(_events.RequestEndOfMessage(1)), replies)


def live_flow() -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.live = True
    flow.request.url = "https://api.openai.com/v1/chat/completions"
    return flow


def sent_requests(out: list[Any]) -> list[http.Request]:
    return [c.event.request for c in out if isinstance(c, SendHttp) and hasattr(c.event, "request")]


class Recorder:
    """crosswire's part of a hook as a test stands it in: notes each flow, answers ``done``."""

    def __init__(self, done: bool) -> None:
        self.done = done
        self.flows: list[http.HTTPFlow] = []

    def __call__(self, flow: http.HTTPFlow) -> bool:
        self.flows.append(flow)
        return self.done


def test_a_flow_routed_at_once_skips_the_hook_and_goes_to_its_upstream() -> None:
    seen = []

    def route_now(flow: http.HTTPFlow) -> bool:
        seen.append(flow)
        flow.request.url = "http://up.test:8080/v1/chat/completions"
        return True

    layer_hooks.enable(route_now, None)
    flow = live_flow()
    out = request_ending(flow, {})
    assert not any(isinstance(c, _hooks.HttpRequestHook) for c in out)
    assert seen == [flow]
    assert isinstance(out[0], GetHttpConnection) and out[0].address == ("up.test", 8080)
    [sent] = sent_requests(out)
    assert sent.url == "http://up.test:8080/v1/chat/completions"
    assert flow.request.content == b'{"model":"m"}'


def test_a_flow_the_engine_leaves_takes_the_hook() -> None:
    leave = Recorder(done=False)
    layer_hooks.enable(leave, None)
    flow = live_flow()

    def hook(command: Any) -> None:
        command.flow.request.url = "http://hooked.test/v1/chat/completions"

    out = request_ending(flow, {_hooks.HttpRequestHook: hook})
    assert isinstance(out[0], _hooks.HttpRequestHook) and leave.flows == [flow]
    assert sent_requests(out)[0].url == "http://hooked.test/v1/chat/completions"


def test_an_answer_made_at_once_is_sent_to_the_app_with_its_hooks() -> None:
    def refuse(flow: http.HTTPFlow) -> bool:
        flow.response = http.Response.make(429, b'{"error":{}}', {"content-type": "x"})
        return True

    layer_hooks.enable(refuse, None)
    out = request_ending(live_flow(), {})
    assert not any(isinstance(c, _hooks.HttpRequestHook | GetHttpConnection) for c in out)
    assert isinstance(out[0], _hooks.HttpResponseHeadersHook)
    assert any(isinstance(c, _hooks.HttpResponseHook) for c in out)
    to_app = [c.event for c in out if isinstance(c, SendHttp)]
    assert isinstance(to_app[0], _events.ResponseHeaders)
    assert to_app[0].response.status_code == 429


@pytest.mark.parametrize("state", ["off", "not live", "answered"])
def test_the_engine_is_not_asked_when_off_or_for_a_flow_not_to_route(state: str) -> None:
    route_now = Recorder(done=True)
    if state != "off":
        layer_hooks.enable(route_now, None)
    flow = live_flow()
    flow.live = state != "not live"
    replies: dict[type, Any] = {}
    if state == "answered":
        replies[_hooks.HttpRequestHook] = None
        flow.response = http.Response.make(200, b"")
    out = request_ending(flow, replies)
    assert isinstance(out[0], _hooks.HttpRequestHook)
    assert route_now.flows == []


def test_response_headers_are_answered_at_once_and_the_answer_goes_on() -> None:
    headers_now = Recorder(done=True)
    layer_hooks.enable(None, headers_now)
    flow = live_flow()
    stream = stream_for(flow)
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(200), False)))
    assert out == [] and headers_now.flows == [flow]
    assert stream.server_state == stream.state_consume_response_body
    layer_hooks.enable(None, None)
    flow = live_flow()
    stream = stream_for(flow)
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(200), False)))
    assert isinstance(out[0], _hooks.HttpResponseHeadersHook)


def test_a_retryable_answer_is_still_held_for_failover() -> None:
    headers_now = Recorder(done=True)
    layer_hooks.enable(None, headers_now)
    flow = live_flow()
    layer_retry.may_retry(flow)
    stream = stream_for(flow)
    out = drive(stream._handle_event(_events.ResponseHeaders(1, answer(429), False)))
    assert out == [] and headers_now.flows == []  # nothing shown to the app, nor to the engine yet
