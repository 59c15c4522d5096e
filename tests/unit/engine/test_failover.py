"""Failover before the first byte: the engine's side of ``layer_retry`` (the ``crosswire_retry``
hook points the flow at the next candidate; mitmproxy's layer sends it again — driven here by
hand), and upstream connection failures answered in the app's shape."""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http

from crosswire.engine import layer_patch, layer_retry
from crosswire.engine.dispatch import Engine
from crosswire.engine.record import META
from tests.unit.engine.conftest import EngineFactory
from tests.unit.engine.helpers import (
    SECRETS,
    UP,
    Upstream,
    anthropic_error,
    anthropic_message,
    anthropic_sse,
    backend,
    chat_body,
    chat_sse,
    feed,
    in_flight,
    joined,
    make_config,
    make_flow,
    openai_error,
    respond,
    sse_data,
)

#: A chat app on two routes: a chat backend with one key, then Claude.
CHAIN = make_config(
    {
        "chat": backend("openai-chat", "K1", base=f"{UP}/v1"),
        "claude": backend("anthropic", "K2", base="http://claude.up"),
    },
    [{"match": {}, "backend": ["chat", "claude"], "model": "m1"}],
)


def meta(flow: http.HTTPFlow, *keys: str) -> dict[str, Any]:
    return {k: flow.metadata[META][k] for k in keys}


async def start(
    engines: EngineFactory, upstream: Upstream, cfg: Any = CHAIN, **body: Any
) -> tuple[Engine, http.HTTPFlow]:
    engine = engines(cfg, upstream)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(**body))
    await engine.request(flow)
    assert flow.response is None
    return engine, flow


async def finish(engine: Engine, flow: http.HTTPFlow, status: int, body: dict[str, Any]) -> None:
    respond(flow, status, body)
    engine.responseheaders(flow)
    await engine.response(flow)


async def fail(engine: Engine, flow: http.HTTPFlow, status: int, body: dict[str, Any]) -> bool:
    """What ``layer_retry`` does with a retryable answer: hide it, ask the engine; True when the
    engine pointed the flow at another candidate (the layer then sends it again)."""
    assert flow in layer_retry._MAY_RETRY
    respond(flow, status, body)
    return await ask(engine, flow)


async def ask(engine: Engine, flow: http.HTTPFlow) -> bool:
    layer_retry._AGAIN.discard(flow)
    await engine.retry(flow)
    again = flow in layer_retry._AGAIN
    if again:  # the layer's resend: no answer yet
        flow.response = None
        flow.error = None
    return again


# ---- whole answers ---------------------------------------------------------------------------------


async def test_a_429_is_served_by_the_next_backend(engines: EngineFactory) -> None:
    engine, flow = await start(engines, Upstream())
    assert await fail(engine, flow, 429, openai_error("slow down"))
    # The flow now carries Claude's request, with Claude's key (what the layer sends next).
    assert flow.request.url == "http://claude.up/v1/messages"
    assert flow.request.headers["x-api-key"] == SECRETS["K2"]
    assert "authorization" not in flow.request.headers
    assert json.loads(flow.request.content or b"")["model"] == "m1"
    await finish(engine, flow, 200, anthropic_message("from claude"))
    resp = flow.response
    assert resp is not None and resp.status_code == 200
    got = json.loads(resp.content or b"")
    assert got["choices"][0]["message"]["content"] == "from claude"
    assert meta(flow, "backend", "key", "mode", "attempts", "failures", "status") == {
        "backend": "claude",
        "key": "k2",
        "mode": "convert",
        "attempts": ["chat/k1", "claude/k2"],
        "failures": ["chat/k1 429"],
        "status": 200,
    }
    assert flow.marked == ":arrows_counterclockwise:"
    assert "failover: chat/k1 429 → served by claude/k2" in flow.comment
    assert flow.request.headers["x-api-key"] == "<redacted: k2>"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}
    states = {s.name: s for s in await engine.runtime.pool.snapshot()}
    assert (states["k1"].last_status, states["k2"].last_status) == (429, 200)


async def test_when_every_attempt_fails_the_last_error_reaches_the_app_in_its_shape(
    engines: EngineFactory,
) -> None:
    engine, flow = await start(engines, Upstream())
    assert await fail(engine, flow, 429, openai_error("slow down"))
    assert not await fail(engine, flow, 503, anthropic_error("overloaded", "overloaded_error"))
    engine.responseheaders(flow)  # the layer goes on with the last failure as the answer
    await engine.response(flow)
    resp = flow.response
    assert resp is not None and resp.status_code == 503
    assert json.loads(resp.content or b"")["error"]["message"] == "overloaded"
    assert meta(flow, "failures", "backend", "status") == {
        "failures": ["chat/k1 429", "claude/k2 503"],
        "backend": "claude",
        "status": 503,
    }
    assert flow.marked == ":x:"
    assert "all attempts failed: chat/k1 429, claude/k2 503" in flow.comment
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}


async def test_failover_attempts_are_bounded(engines: EngineFactory) -> None:
    cfg = make_config(
        {"a": backend("openai-chat", "K1", "K2", "K3")},
        [{"match": {}, "backend": "a"}],
        failover_attempts=2,
    )
    engine = engines(cfg, Upstream())
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    assert await fail(engine, flow, 500, openai_error("first", "server_error"))
    assert not await fail(engine, flow, 500, openai_error("second", "server_error"))
    engine.responseheaders(flow)
    await engine.response(flow)
    assert flow.response is not None and flow.response.status_code == 500
    assert len(meta(flow, "failures")["failures"]) == 2
    assert set((await in_flight(engine.runtime)).values()) == {0}


async def test_a_single_candidate_is_not_offered_to_the_layer(engines: EngineFactory) -> None:
    cfg = make_config({"a": backend("anthropic", "K1")}, [{"match": {}, "backend": "a"}])
    _engine, flow = await start(engines, Upstream(), cfg)
    assert flow not in layer_retry._MAY_RETRY


async def test_failover_off_keeps_one_attempt(engines: EngineFactory) -> None:
    cfg = make_config(
        {"a": backend("openai-chat", "K1", "K2")}, [{"match": {}, "backend": "a"}], failover="off"
    )
    engine = engines(cfg, Upstream())
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    assert flow not in layer_retry._MAY_RETRY


async def test_a_non_retryable_error_is_not_failed_over(engines: EngineFactory) -> None:
    upstream = Upstream()
    engine, flow = await start(engines, upstream)
    await finish(engine, flow, 400, openai_error("bad request", "invalid_request_error"))
    assert upstream.requests == []
    assert flow.response is not None and flow.response.status_code == 400
    assert meta(flow, "failures", "backend") == {"failures": [], "backend": "chat"}


async def test_unreachable_everywhere_is_a_502_in_the_apps_shape(engines: EngineFactory) -> None:
    engine, flow = await start(engines, Upstream())
    flow.error = mflow.Error("Connection refused")
    assert await ask(engine, flow)
    flow.error = mflow.Error("Connection refused")
    assert not await ask(engine, flow)
    await engine.error(flow)  # no candidate left: the error path answers
    resp = flow.response
    assert resp is not None and resp.status_code == 502
    got = json.loads(resp.content or b"")
    assert got["error"]["message"] == "crosswire: upstream unreachable: Connection refused"
    assert layer_patch._EXPECTING[flow] == layer_patch.Answer(response=resp)
    assert meta(flow, "failures", "error") == {
        "failures": ["chat/k1 unreachable", "claude/k2 unreachable"],
        "error": {"type": "unavailable", "message": got["error"]["message"]},
    }
    assert flow.marked == ":x:"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}


async def test_an_unreachable_first_backend_is_served_by_the_next(engines: EngineFactory) -> None:
    engine, flow = await start(engines, Upstream())
    flow.error = mflow.Error("Connection refused")
    assert await ask(engine, flow)
    await finish(engine, flow, 200, anthropic_message("second"))
    resp = flow.response
    assert resp is not None and resp.status_code == 200
    assert json.loads(resp.content or b"")["choices"][0]["message"]["content"] == "second"
    assert meta(flow, "failures", "backend", "usage")["failures"] == ["chat/k1 unreachable"]
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}


async def test_a_single_unreachable_backend_is_a_502_in_the_apps_shape(
    engines: EngineFactory,
) -> None:
    cfg = make_config({"a": backend("anthropic", "K1")}, [{"match": {}, "backend": "a"}])
    upstream = Upstream()
    engine, flow = await start(engines, upstream, cfg)
    flow.error = mflow.Error("Connection refused")
    await engine.error(flow)
    assert upstream.requests == []
    assert flow.response is not None and flow.response.status_code == 502
    assert json.loads(flow.response.content or b"")["error"]["message"] == (
        "crosswire: upstream unreachable: Connection refused"
    )
    assert flow.comment.endswith(" · failed: Connection refused")
    assert await in_flight(engine.runtime) == {"a/k1": 0}


async def test_a_stream_cut_mid_body_ends_with_the_apps_error_event(engines: EngineFactory) -> None:
    cfg = make_config({"a": backend("anthropic", "K1")}, [{"match": {}, "backend": "a"}])
    engine, flow = await start(engines, Upstream(), cfg, stream=True)
    flow.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    engine.responseheaders(flow)
    outs = feed(flow, anthropic_sse()[:4], end=False)  # the connection breaks
    assert sse_data(joined(outs))[-1]["choices"][0]["delta"] == {"content": "Hello"}
    flow.error = mflow.Error("peer closed connection")
    await engine.error(flow)
    answer = layer_patch._EXPECTING[flow]
    assert answer is not None and answer.response is None
    assert sse_data(answer.tail) == [
        {
            "error": {
                "message": "crosswire: the upstream failed mid-stream: peer closed connection",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    ]
    assert meta(flow, "error")["error"]["type"] == "api_error"
    assert "upstream stream cut short" in flow.comment
    assert await in_flight(engine.runtime) == {"a/k1": 0}


# ---- streams -----------------------------------------------------------------------------------------


STREAM_KEYS = make_config(
    {"chat": backend("openai-chat", "K1", "K2", base=f"{UP}/v1")},
    [{"match": {}, "backend": "chat"}],
)


async def test_a_stream_fails_over_on_mitmproxys_own_connection(engines: EngineFactory) -> None:
    engine = engines(STREAM_KEYS)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(stream=True))
    await engine.request(flow)
    # No hop: the request goes straight to the upstream, its body whole.
    assert flow.request.url == f"{UP}/v1/chat/completions"
    assert json.loads(flow.request.content or b"") == chat_body(stream=True)
    first = flow.request.headers["authorization"]
    assert await fail(engine, flow, 429, openai_error("slow down"))
    second = flow.request.headers["authorization"]
    assert {first, second} == {f"Bearer {SECRETS['K1']}", f"Bearer {SECRETS['K2']}"}
    chunks = chat_sse("retried")
    flow.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    engine.responseheaders(flow)
    outs = feed(flow, chunks)
    assert joined(outs) == b"".join(chunks)
    await engine.response(flow)
    assert meta(flow, "attempts", "status")["status"] == 200
    assert len(meta(flow, "failures")["failures"]) == 1
    assert flow.marked == ":arrows_counterclockwise:"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "chat/k2": 0}
