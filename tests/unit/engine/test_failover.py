"""Failover before the first byte, in process: whole answers retried with the shared client
(an ``httpx.MockTransport``), upstream connection failures answered in the app's shape, and
streams through the loopback relay (the job's outcome read in process)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from mitmproxy import flow as mflow
from mitmproxy import http

from crosswire.engine import layer_patch
from crosswire.engine.dispatch import Engine
from crosswire.engine.flight import Flight
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
    chat_completion,
    chat_sse,
    feed,
    in_flight,
    joined,
    make_config,
    make_flow,
    openai_error,
    respond,
    sse_data,
    streamed,
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


# ---- whole answers ---------------------------------------------------------------------------------


async def test_a_429_is_served_by_the_next_backend_in_process(engines: EngineFactory) -> None:
    upstream = Upstream([httpx.Response(200, json=anthropic_message("from claude"))])
    engine, flow = await start(engines, upstream)
    await finish(engine, flow, 429, openai_error("slow down"))
    resp = flow.response
    assert resp is not None and resp.status_code == 200
    got = json.loads(resp.content or b"")
    assert got["choices"][0]["message"]["content"] == "from claude"
    # What the second attempt sent: Claude's request, with Claude's key.
    [sent] = upstream.requests
    assert str(sent.url) == "http://claude.up/v1/messages"
    assert sent.headers["x-api-key"] == SECRETS["K2"]
    assert "authorization" not in sent.headers
    assert json.loads(sent.content)["model"] == "m1"
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
    # The stored request shows what was sent to the serving backend, its key redacted.
    assert flow.request.url == "http://claude.up/v1/messages"
    assert flow.request.headers["x-api-key"] == "<redacted: k2>"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}
    states = {s.name: s for s in await engine.runtime.pool.snapshot()}
    assert (states["k1"].last_status, states["k2"].last_status) == (429, 200)


async def test_when_every_attempt_fails_the_last_error_reaches_the_app_in_its_shape(
    engines: EngineFactory,
) -> None:
    upstream = Upstream(
        [httpx.Response(503, json=anthropic_error("overloaded", "overloaded_error"))]
    )
    engine, flow = await start(engines, upstream)
    await finish(engine, flow, 429, openai_error("slow down"))
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
    upstream = Upstream([httpx.Response(500, json=openai_error("boom", "server_error"))] * 3)
    engine = engines(cfg, upstream)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    await finish(engine, flow, 500, openai_error("first", "server_error"))
    assert len(upstream.requests) == 1  # mitmproxy's attempt + one in process = 2
    assert flow.response is not None and flow.response.status_code == 500
    assert len(meta(flow, "failures")["failures"]) == 2
    assert set((await in_flight(engine.runtime)).values()) == {0}


async def test_a_non_retryable_error_is_not_failed_over(engines: EngineFactory) -> None:
    upstream = Upstream()
    engine, flow = await start(engines, upstream)
    await finish(engine, flow, 400, openai_error("bad request", "invalid_request_error"))
    assert upstream.requests == []
    assert flow.response is not None and flow.response.status_code == 400
    assert meta(flow, "failures", "backend") == {"failures": [], "backend": "chat"}


async def test_unreachable_everywhere_is_a_502_in_the_apps_shape(engines: EngineFactory) -> None:
    upstream = Upstream([httpx.ConnectError("connection refused")])
    engine, flow = await start(engines, upstream)
    flow.error = mflow.Error("Connection refused")
    await engine.error(flow)
    resp = flow.response
    assert resp is not None and resp.status_code == 502
    got = json.loads(resp.content or b"")
    assert got["error"]["message"] == (
        "crosswire: upstream unreachable: ConnectError: connection refused"
    )
    assert layer_patch._EXPECTING[flow] == layer_patch.Answer(response=resp)
    assert meta(flow, "failures", "error") == {
        "failures": ["chat/k1 unreachable", "claude/k2 unreachable"],
        "error": {"type": "unavailable", "message": got["error"]["message"]},
    }
    assert flow.marked == ":x:"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "claude/k2": 0}


async def test_an_unreachable_first_backend_is_served_by_the_next(engines: EngineFactory) -> None:
    upstream = Upstream([httpx.Response(200, json=anthropic_message("second"))])
    engine, flow = await start(engines, upstream)
    flow.error = mflow.Error("Connection refused")
    await engine.error(flow)
    resp = flow.response
    assert resp is not None and resp.status_code == 200
    assert json.loads(resp.content or b"")["choices"][0]["message"]["content"] == "second"
    assert layer_patch._EXPECTING[flow] == layer_patch.Answer(response=resp)
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


# ---- streams through the relay ----------------------------------------------------------------------


STREAM_KEYS = make_config(
    {"chat": backend("openai-chat", "K1", "K2", base=f"{UP}/v1")},
    [{"match": {}, "backend": "chat"}],
)


async def relay_flow(
    engines: EngineFactory, upstream: Upstream
) -> tuple[Engine, http.HTTPFlow, str]:
    engine = engines(STREAM_KEYS, upstream)
    await engine.runtime.relay.start()
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(stream=True))
    await engine.request(flow)
    flight = engine.flights[flow.id]
    assert isinstance(flight, Flight) and flight.job is not None
    assert flow.request.url == flight.job.url
    assert flow.request.url.startswith(f"http://127.0.0.1:{engine.runtime.relay.port}/relay/")
    assert flow.request.content == b""  # the body crosses loopback once, to the upstream
    return engine, flow, flight.job.first.key_name or ""


async def through_relay(engine: Engine, flow: http.HTTPFlow) -> list[bytes | list[bytes]]:
    """What mitmproxy does with the relayed flow: send it, take the headers, stream the body."""
    async with httpx.AsyncClient(trust_env=False) as client:
        req = client.build_request("POST", flow.request.url, content=b"")
        got = await client.send(req, stream=True)
        headers = http.Headers([(k.encode(), v.encode()) for k, v in got.headers.multi_items()])
        flow.response = http.Response.make(got.status_code, b"", headers)
        engine.responseheaders(flow)
        if flow.response.stream:
            outs = feed(flow, [c async for c in got.aiter_raw()])
        else:
            flow.response.content = await got.aread()
            outs = []
        await got.aclose()
    await engine.response(flow)
    return outs


async def test_a_stream_fails_over_through_the_relay(engines: EngineFactory) -> None:
    chunks = chat_sse("relayed")
    upstream = Upstream(
        [
            httpx.Response(429, json=openai_error("slow down")),
            streamed(chunks),
        ]
    )
    engine, flow, first_key = await relay_flow(engines, upstream)
    outs = await through_relay(engine, flow)
    assert joined(outs) == b"".join(chunks)
    # Both attempts carried the full body to the upstream; each its own key.
    assert [r.content for r in upstream.requests] == [
        json.dumps(chat_body(stream=True)).encode()
    ] * 2
    second_key = "k2" if first_key == "k1" else "k1"
    assert [r.headers["authorization"] for r in upstream.requests] == [
        f"Bearer {SECRETS[first_key.upper()]}",
        f"Bearer {SECRETS[second_key.upper()]}",
    ]
    assert meta(flow, "key", "attempts", "failures", "status", "usage") == {
        "key": second_key,
        "attempts": [f"chat/{first_key}", f"chat/{second_key}"],
        "failures": [f"chat/{first_key} 429"],
        "status": 200,
        "usage": {
            "input": 7,
            "output": 3,
            "cached": None,
            "cache_write": None,
            "reasoning": None,
            "estimated": False,
        },
    }
    assert flow.request.url == f"{UP}/v1/chat/completions"  # the stored request: what served
    assert flow.marked == ":arrows_counterclockwise:"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "chat/k2": 0}


async def test_a_relayed_stream_whose_attempts_all_fail_gets_the_last_error(
    engines: EngineFactory,
) -> None:
    upstream = Upstream([httpx.Response(429, json=openai_error(f"slow {n}")) for n in (1, 2)])
    engine, flow, _ = await relay_flow(engines, upstream)
    await through_relay(engine, flow)
    assert flow.response is not None and flow.response.status_code == 429
    assert json.loads(flow.response.content or b"")["error"]["message"] == "slow 2"
    assert len(meta(flow, "failures")["failures"]) == 2
    assert flow.marked == ":x:"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "chat/k2": 0}


async def test_a_relayed_stream_with_no_upstream_reachable_is_a_502(engines: EngineFactory) -> None:
    upstream = Upstream([httpx.ConnectError("refused"), httpx.ConnectError("refused")])
    engine, flow, _ = await relay_flow(engines, upstream)
    await through_relay(engine, flow)
    assert flow.response is not None and flow.response.status_code == 502
    assert json.loads(flow.response.content or b"")["error"]["message"] == (
        "crosswire: upstream unreachable: ConnectError: refused"
    )
    assert meta(flow, "error")["error"]["type"] == "unavailable"
    assert await in_flight(engine.runtime) == {"chat/k1": 0, "chat/k2": 0}


async def test_without_the_relay_a_stream_goes_straight_upstream(engines: EngineFactory) -> None:
    engine = engines(STREAM_KEYS)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(stream=True))
    await engine.request(flow)  # relay not started (as before the `running` hook)
    assert flow.request.url == f"{UP}/v1/chat/completions"
    assert json.loads(flow.request.content or b"") == chat_body(stream=True)


async def test_a_whole_request_never_goes_through_the_relay(engines: EngineFactory) -> None:
    engine = engines(STREAM_KEYS, Upstream([httpx.Response(200, json=chat_completion())]))
    await engine.runtime.relay.start()
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    assert flow.request.url == f"{UP}/v1/chat/completions"
