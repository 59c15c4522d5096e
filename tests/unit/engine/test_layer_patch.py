"""The HttpStream patch: installed once; a marked flow's upstream failure is answered with what
the engine's ``error`` hook decided, driven on a real mitmproxy ``HttpStream``."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from mitmproxy import http
from mitmproxy.options import Options
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http import DropStream, HttpStream, SendHttp, _events, _hooks
from mitmproxy.test import tflow

from crosswire.engine import layer_patch
from crosswire.engine.layer_patch import Answer, answer, expect_answer

ERROR = _events.ResponseProtocolError(
    1, "Connection refused", _events.ErrorCode.GENERIC_SERVER_ERROR
)
WHOLE = http.Response.make(502, b'{"error":{}}', {"content-type": "application/json"})


def test_install_is_idempotent() -> None:
    assert layer_patch.install() is True
    patched = HttpStream.handle_protocol_error
    assert layer_patch.install() is True
    assert HttpStream.handle_protocol_error is patched  # not wrapped twice


def test_only_marked_flows_take_an_answer() -> None:
    marked, other = tflow.tflow(), tflow.tflow()
    expect_answer(marked)
    assert layer_patch._EXPECTING[marked] is None
    answer(other, Answer(response=WHOLE))
    answer(marked, Answer(tail=b"x"))
    assert other not in layer_patch._EXPECTING
    assert layer_patch._EXPECTING[marked] == Answer(tail=b"x")
    gone = weakref.ref(marked)
    del marked
    gc.collect()
    assert gone() is None  # a finished flow is not kept alive by the bookkeeping


def stream_for(flow: http.HTTPFlow, *, started: bool) -> HttpStream:
    layer_patch.install()
    stream = HttpStream(Context(flow.client_conn, Options()), 1)
    stream.flow = flow
    stream.server_state = (
        stream.state_stream_response_body if started else stream.state_wait_for_response_headers
    )
    return stream


def run(stream: HttpStream, on_error_hook: Answer | None) -> list[Any]:
    """Drive the layer's error handling; at the error hook, the engine answers (or not)."""
    commands = stream.handle_protocol_error(ERROR)
    hook = next(commands)
    assert isinstance(hook, _hooks.HttpErrorHook) and hook.flow is stream.flow
    assert stream.flow.error is not None and stream.flow.error.msg == "Connection refused"
    if on_error_hook is not None:
        answer(stream.flow, on_error_hook)
    out = []
    try:
        while True:
            out.append(commands.send(None))
    except StopIteration:
        return out


def sent(commands: list[Any]) -> list[Any]:
    return [c.event if isinstance(c, SendHttp) else c for c in commands]


def test_a_whole_answer_replaces_mitmproxys_error_page() -> None:
    flow = tflow.tflow()
    expect_answer(flow)
    stream = stream_for(flow, started=False)
    events = sent(run(stream, Answer(response=WHOLE)))
    assert [type(e) for e in events] == [
        _events.ResponseHeaders,
        _events.ResponseData,
        _events.ResponseEndOfMessage,
        DropStream,
    ]
    assert events[0].response is WHOLE and events[0].end_stream is False
    assert events[1].data == b'{"error":{}}'
    assert flow.response is WHOLE
    assert flow.live is False
    assert stream.server_state == stream.state_errored
    assert flow not in layer_patch._EXPECTING  # used once


def test_a_started_stream_gets_its_closing_event_and_a_clean_end() -> None:
    flow = tflow.tflow()
    expect_answer(flow)
    stream = stream_for(flow, started=True)
    events = sent(run(stream, Answer(tail=b"event: error\ndata: {}\n\n")))
    assert [type(e) for e in events] == [
        _events.ResponseData,
        _events.ResponseEndOfMessage,
        DropStream,
    ]
    assert events[0].data == b"event: error\ndata: {}\n\n"


def test_a_started_stream_without_a_tail_just_ends() -> None:
    flow = tflow.tflow()
    expect_answer(flow)
    events = sent(run(stream_for(flow, started=True), Answer()))
    assert [type(e) for e in events] == [_events.ResponseEndOfMessage, DropStream]


def test_no_answer_from_the_engine_falls_back_to_mitmproxys_own() -> None:
    flow = tflow.tflow()
    expect_answer(flow)
    events = sent(run(stream_for(flow, started=False), Answer()))
    assert events[0] is ERROR  # mitmproxy's own error to the client
    assert events[-1] == DropStream(1)


def test_an_unmarked_flow_takes_mitmproxys_path() -> None:
    flow = tflow.tflow()
    events = sent(run(stream_for(flow, started=False), None))
    assert not any(isinstance(e, _events.ResponseHeaders) for e in events)
    assert flow.response is None
