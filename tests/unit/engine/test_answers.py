"""``responseheaders`` and ``response`` on tflow flows: streams through the installed callable,
whole answers and errors converted, the lease released, the record and comment written."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from typing import Any

import pytest
from mitmproxy import http

from crosswire.engine.dispatch import Engine
from crosswire.engine.record import META, UPSTREAM_BODY
from tests.unit.engine.conftest import EngineFactory
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    anthropic_body,
    anthropic_error,
    anthropic_message,
    anthropic_overloaded_sse,
    anthropic_sse,
    backend,
    chat_body,
    chat_completion,
    chat_sse,
    feed,
    in_flight,
    joined,
    make_config,
    make_flow,
    respond,
    sse_data,
    sse_response,
)

CFG = make_config(
    {"claude": backend("anthropic", "K1"), "chat": backend("openai-chat", "K2")},
    [
        {"match": {"host": "api.openai.com"}, "backend": "claude", "model": "claude-x"},
        {"match": {"host": "api.anthropic.com"}, "backend": "claude"},
        {"match": {"host": "api.mistral.ai"}, "backend": "chat"},
    ],
)
RECORD_KEYS = ("mode", "status", "stream", "usage", "finish", "response_model", "error")


def record(flow: http.HTTPFlow, *keys: str) -> dict[str, Any]:
    meta = flow.metadata[META]
    return {k: meta[k] for k in keys or RECORD_KEYS}


def usage(input: int, output: int) -> dict[str, Any]:
    return {
        "input": input,
        "output": output,
        "cached": None,
        "cache_write": None,
        "reasoning": None,
        "estimated": False,
    }


async def chat_to_claude(engines: EngineFactory, **body: Any) -> tuple[Engine, http.HTTPFlow]:
    engine = engines(CFG)
    flow = make_flow(
        "POST",
        "api.openai.com",
        "/v1/chat/completions",
        chat_body(**body),
        [("Authorization", f"Bearer {APP_KEY}")],
    )
    await engine.request(flow)
    return engine, flow


# ---- converted streams ---------------------------------------------------------------------------


async def test_a_converted_stream_goes_through_the_callable(engines: EngineFactory) -> None:
    engine, flow = await chat_to_claude(engines, stream=True, seed=1)
    sse_response(flow)
    flow.response.headers["content-length"] = "999"  # type: ignore[union-attr]
    engine.responseheaders(flow)
    resp = flow.response
    assert resp is not None
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in resp.headers
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.headers["x-crosswire-dropped"] == "seed"
    assert flow.request.headers["x-api-key"] == "<redacted: k1>"  # the stored copy

    events = anthropic_sse("Hello")
    start = events[0]
    chunks = [start[:10], start[10:], *events[1:]]
    outs = feed(flow, chunks)
    for chunk, out in zip(chunks, outs[:-1], strict=True):
        assert out != b"", f"b'' mid-stream for {chunk!r}"
    assert outs[0] == []  # half an event: nothing yet, and not b""
    assert outs[3] == []  # ping
    got = sse_data(joined(outs))
    assert got[-1] == "[DONE]"
    assert [c["choices"][0]["delta"] for c in got[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in got[:-1]] == [None, None, "stop"]
    assert {c["model"] for c in got[:-1]} == {"claude-x"}

    await engine.response(flow)
    assert record(flow) == {
        "mode": "convert",
        "status": 200,
        "stream": True,
        "usage": usage(5, 2),
        "finish": "stop",
        "response_model": "claude-x",
        "error": None,
    }
    assert resp.content == joined(outs)  # the bytes as the app received them
    assert flow.metadata[UPSTREAM_BODY] == b"".join(events)
    assert flow.comment.endswith("gpt-4o → claude-x · dropped: seed")
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "chat/k2": 0}


async def test_any_split_of_a_stream_gives_the_same_events(engines: EngineFactory) -> None:
    outputs = []
    body = b"".join(anthropic_sse("split me"))
    for size in (1, 7, len(body)):
        engine, flow = await chat_to_claude(engines, stream=True)
        sse_response(flow)
        engine.responseheaders(flow)
        outs = feed(flow, [body[i : i + size] for i in range(0, len(body), size)])
        assert b"" not in outs[:-1]
        outputs.append([(c if c == "[DONE]" else c["choices"]) for c in sse_data(joined(outs))])
    assert outputs[0] == outputs[1] == outputs[2]


async def test_an_upstream_error_event_ends_the_converted_stream(engines: EngineFactory) -> None:
    engine, flow = await chat_to_claude(engines, stream=True)
    sse_response(flow)
    engine.responseheaders(flow)
    outs = feed(flow, anthropic_overloaded_sse("busy"))
    assert outs[1] == [] and outs[-1] == b""  # no [DONE] after an error
    assert sse_data(joined(outs))[-1] == {
        "error": {
            "message": "busy",
            "type": "server_error",
            "param": None,
            "code": "overloaded_error",
        }
    }
    await engine.response(flow)
    assert record(flow, "error")["error"] == {"type": "overloaded", "message": "busy"}
    assert flow.marked == ":warning:"


async def test_an_error_status_installs_no_stream_callable(engines: EngineFactory) -> None:
    engine, flow = await chat_to_claude(engines, stream=True)
    respond(flow, 400, anthropic_error("bad", "invalid_request_error"))
    engine.responseheaders(flow)
    assert flow.response is not None and flow.response.stream is False


async def test_a_whole_answer_to_a_stream_request_is_replayed_as_the_apps_stream(
    engines: EngineFactory,
) -> None:
    engine, flow = await chat_to_claude(engines, stream=True)
    respond(flow, 200, anthropic_message("Whole"))
    engine.responseheaders(flow)
    assert flow.response is not None and not flow.response.stream
    await engine.response(flow)
    assert flow.response.headers["content-type"].startswith("text/event-stream")
    got = sse_data(flow.response.content or b"")
    assert got[-1] == "[DONE]"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in got[:-1]) == "Whole"
    assert record(flow, "usage", "finish") == {"usage": usage(5, 2), "finish": "stop"}


# ---- passthrough streams --------------------------------------------------------------------------


async def anthropic_stream(engines: EngineFactory) -> tuple[Engine, http.HTTPFlow]:
    engine = engines(CFG)
    flow = make_flow(
        "POST",
        "api.anthropic.com",
        "/v1/messages",
        anthropic_body(stream=True),
        [("x-api-key", APP_KEY)],
    )
    await engine.request(flow)
    sse_response(flow)
    engine.responseheaders(flow)
    return engine, flow


async def test_a_passthrough_stream_is_forwarded_byte_for_byte(engines: EngineFactory) -> None:
    engine, flow = await anthropic_stream(engines)
    events = anthropic_sse(model="claude-sonnet-4-5-20250929")
    outs = feed(flow, events)
    assert outs == [*events, b""]
    await engine.response(flow)
    assert record(flow) == {
        "mode": "passthrough",
        "status": 200,
        "stream": True,
        "usage": usage(5, 2),
        "finish": None,
        "response_model": "claude-sonnet-4-5-20250929",
        "error": None,
    }
    assert flow.response is not None and flow.response.content == b"".join(events)
    assert (
        flow.comment
        == "anthropic (passthrough) · route 2 · backend claude · key k1 · claude-sonnet-4-5"
    )
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "chat/k2": 0}


async def test_a_passthrough_stream_cut_short_ends_with_the_apps_error_event(
    engines: EngineFactory,
) -> None:
    engine, flow = await anthropic_stream(engines)
    events = anthropic_sse()[:-1]  # no message_stop
    outs = feed(flow, events)
    assert outs[:-1] == events
    tail = outs[-1]
    assert isinstance(tail, bytes) and tail.startswith(b"event: error\n")
    assert sse_data(tail) == [
        {
            "type": "error",
            "error": {
                "type": "api_error",
                "message": "crosswire: the upstream stream ended before it was complete",
            },
        }
    ]
    await engine.response(flow)
    assert flow.comment.endswith(" · upstream stream cut short")


async def test_a_passthrough_chat_stream_reads_usage_from_its_last_chunk(
    engines: EngineFactory,
) -> None:
    engine = engines(CFG)
    flow = make_flow("POST", "api.mistral.ai", "/v1/chat/completions", chat_body(stream=True))
    await engine.request(flow)
    sse_response(flow)
    engine.responseheaders(flow)
    assert feed(flow, chat_sse())[-1] == b""
    await engine.response(flow)
    assert record(flow, "usage", "response_model") == {
        "usage": usage(7, 3),
        "response_model": "gpt-4o-2024",
    }


# ---- whole answers --------------------------------------------------------------------------------


async def test_a_whole_answer_is_converted_and_recorded(engines: EngineFactory) -> None:
    engine, flow = await chat_to_claude(engines)
    respond(flow, 200, anthropic_message("Hello", model="claude-x-2025"))
    engine.responseheaders(flow)
    await engine.response(flow)
    resp = flow.response
    assert resp is not None and resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    got = json.loads(resp.content or b"")
    assert got["object"] == "chat.completion"
    assert got["choices"][0]["message"]["content"] == "Hello"
    assert got["choices"][0]["finish_reason"] == "stop"
    assert got["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert record(flow) == {
        "mode": "convert",
        "status": 200,
        "stream": False,
        "usage": usage(5, 2),
        "finish": "stop",
        "response_model": "claude-x-2025",
        "error": None,
    }
    meta = flow.metadata[META]
    assert meta["duration_s"] is not None and meta["ttfb_s"] is not None
    assert (
        flow.metadata[UPSTREAM_BODY]
        == json.dumps(anthropic_message("Hello", model="claude-x-2025")).encode()
    )
    assert flow.marked == ""
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "chat/k2": 0}
    state = {s.name: s for s in await engine.runtime.pool.snapshot()}["k1"]
    assert (state.requests, state.input_tokens, state.output_tokens) == (1, 5, 2)


async def test_a_whole_passthrough_answer_reads_model_and_usage(engines: EngineFactory) -> None:
    engine = engines(CFG)
    flow = make_flow("POST", "api.mistral.ai", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    answer = json.dumps(chat_completion("ok")).encode()
    respond(flow, 200, answer)
    engine.responseheaders(flow)
    await engine.response(flow)
    assert flow.response is not None and flow.response.content == answer
    assert record(flow, "usage", "response_model", "mode") == {
        "usage": usage(7, 3),
        "response_model": "gpt-4o-2024",
        "mode": "passthrough",
    }


@pytest.mark.parametrize("status", [400, 429, 529])
async def test_an_upstream_error_becomes_the_apps_error_with_its_status(
    engines: EngineFactory, status: int
) -> None:
    engine, flow = await chat_to_claude(engines, logit_bias={"1": 2})
    etype = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}[status]
    respond(flow, status, anthropic_error(f"no: {SECRETS['K1']}", etype), retry_after="7")
    engine.responseheaders(flow)
    await engine.response(flow)
    resp = flow.response
    assert resp is not None
    assert resp.status_code == (503 if status == 529 else status)  # OpenAI SDKs know 503
    assert resp.headers["retry-after"] == "7"
    assert resp.headers["x-crosswire-dropped"] == "logit_bias"
    got = json.loads(resp.content or b"")
    assert got["error"]["message"] == "no: <redacted>"  # a pool key is never echoed
    assert flow.marked == ":x:"
    assert record(flow, "status", "error")["status"] == resp.status_code
    assert record(flow, "error")["error"]["message"] == "no: <redacted>"
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "chat/k2": 0}
    state = {s.name: s for s in await engine.runtime.pool.snapshot()}["k1"]
    assert state.last_status == status


async def test_a_passthrough_error_is_forwarded_minus_the_pool_key(engines: EngineFactory) -> None:
    engine = engines(CFG)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await engine.request(flow)
    err = anthropic_error(f"invalid x-api-key {SECRETS['K1']}", "authentication_error")
    respond(flow, 400, err)
    engine.responseheaders(flow)
    await engine.response(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert json.loads(flow.response.content or b"") == anthropic_error(
        "invalid x-api-key <redacted>", "authentication_error"
    )
    assert SECRETS["K1"] not in json.dumps(flow.metadata[META])


async def test_an_unreadable_whole_answer_is_a_502_in_the_apps_shape(
    engines: EngineFactory,
) -> None:
    engine, flow = await chat_to_claude(engines)
    respond(flow, 200, b"<html>gateway</html>")
    engine.responseheaders(flow)
    await engine.response(flow)
    assert flow.response is not None and flow.response.status_code == 502
    got = json.loads(flow.response.content or b"")
    assert got["error"]["message"].startswith(
        "upstream protocol error: upstream answered invalid JSON"
    )
    assert flow.marked == ":x:"
    assert record(flow, "error")["error"]["type"] == "api_error"
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "chat/k2": 0}


# ---- the stored request ------------------------------------------------------------------------


@pytest.mark.parametrize("changed_by_another_addon", [False, True])
async def test_the_stored_request_keeps_no_secret(
    engines: EngineFactory, changed_by_another_addon: bool
) -> None:
    """The key crosswire added and a configured credential header are hidden once the request
    is out, in place and in order; the other fields stay as sent — whether the fields are still
    the ones the engine set (found by identity) or another addon rebuilt them (one full pass)."""
    cfg = make_config(
        {"b": backend("openai-chat", "K1", headers={"api-key": "${K2}", "x-team": "blue"})},
        [{"match": {}, "backend": "b"}],
    )
    engine = engines(cfg)
    flow = make_flow(
        "POST",
        "api.openai.com",
        "/v1/chat/completions",
        chat_body(),
        [("Authorization", f"Bearer {APP_KEY}"), ("X-Trace", "t1")],
    )
    await engine.request(flow)
    sent = flow.request.headers.fields
    assert (b"authorization", f"Bearer {SECRETS['K1']}".encode()) in sent
    if changed_by_another_addon:
        flow.request.headers["x-other"] = "added"
    respond(flow, 200, chat_completion())
    engine.responseheaders(flow)
    stored = flow.request.headers.fields
    assert [k for k, _ in stored] == [k for k, _ in sent] + (
        [b"x-other"] if changed_by_another_addon else []
    )
    shown = dict(stored)
    assert shown[b"authorization"] == b"<redacted: k1>"
    assert shown[b"api-key"] == b"<redacted>"
    assert shown[b"x-team"] == b"blue" and shown[b"X-Trace"] == b"t1"
    assert not any(s.encode() in v for _, v in stored for s in (*SECRETS.values(), APP_KEY))


# ---- a finished flight is freed at once ----------------------------------------------------------


async def _flight_of(engine: Engine, flow: http.HTTPFlow) -> weakref.ref[Any]:
    await asyncio.sleep(0)  # the flight is made on the turn after the request hook
    return weakref.ref(engine.flights[flow.id])


@pytest.mark.parametrize("case", ["whole passthrough", "whole converted", "streamed passthrough"])
async def test_a_finished_flight_is_freed_without_the_garbage_collector(
    engines: EngineFactory, case: str
) -> None:
    """Nothing of a flight points back at it (the handler holds a ``Serving``, not the flight):
    a cycle would leave every object of the exchange to the collector, which on a busy proxy
    means more and longer collections on its only thread."""
    if case == "whole converted":
        engine, flow = await chat_to_claude(engines)
        respond(flow, 200, anthropic_message())
    elif case == "whole passthrough":
        engine = engines(CFG)
        flow = make_flow("POST", "api.mistral.ai", "/v1/chat/completions", chat_body())
        await engine.request(flow)
        respond(flow, 200, chat_completion())
    else:
        engine, flow = await anthropic_stream(engines)
    flight = await _flight_of(engine, flow)
    gc.disable()
    try:
        if case == "streamed passthrough":  # its headers went through already
            feed(flow, anthropic_sse())
        else:
            engine.responseheaders(flow)
        await engine.response(flow)
        assert flow.response is not None and flow.response.status_code == 200
        assert flight() is None
    finally:
        gc.enable()
