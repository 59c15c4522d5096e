"""The ``request`` hook on tflow flows: refusals, retargeting, local answers, generic and
WebSocket flows, and failing closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http

from crosswire.engine import layer_patch
from crosswire.engine.record import META, ORIGINAL_REQUEST, ORIGINAL_URL
from tests.unit.engine.conftest import EngineFactory, Route
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    UP,
    Upstream,
    anthropic_body,
    backend,
    chat_body,
    in_flight,
    make_config,
    make_flow,
    respond,
)

CONVERT = make_config(
    {"claude": backend("anthropic", "K1"), "inspect": backend("auto", "K2", base=f"{UP}/v1")},
    [
        {
            "match": {"host": "api.openai.com", "path": "/v1/chat/*"},
            "backend": "claude",
            "model": "claude-x",
        },
        {"match": {"host": "api.openai.com"}, "backend": "inspect"},
        {"match": {"host": "api.anthropic.com"}, "backend": "claude"},
    ],
    limits={"max_body_bytes": 2048},
)


def lowered(headers: http.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.items(multi=True):
        assert k.lower() not in out, f"{k} twice"
        out[k.lower()] = v
    return out


def error_of(flow: http.HTTPFlow) -> Any:
    assert flow.response is not None
    assert flow.response.headers["content-type"] == "application/json"
    return json.loads(flow.response.content or b"")


# ---- refused: the app's error shape, nothing upstream -------------------------------------------


async def assert_refused(
    engines: EngineFactory, route: Route, flow: http.HTTPFlow, status: int
) -> Any:
    upstream = Upstream()
    engine = engines(CONVERT, upstream)
    original = flow.request.url
    await route(engine, flow)
    assert flow.response is not None and flow.response.status_code == status
    assert flow.marked == ":no_entry:"
    assert flow.request.url == original  # not retargeted; mitmproxy sends nothing
    assert engine.flights == {} and upstream.requests == []
    assert META not in flow.metadata
    assert set((await in_flight(engine.runtime)).values()) == {0}
    await engine.response(flow)  # a later hook has nothing to do
    assert flow.response.status_code == status
    return error_of(flow)


async def test_a_body_too_large_is_refused_in_anthropics_shape(
    engines: EngineFactory, route: Route
) -> None:
    body = anthropic_body(system="x" * 3000)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", body, [("x-api-key", APP_KEY)])
    got = await assert_refused(engines, route, flow, 413)
    assert got["type"] == "error"
    assert got["error"]["type"] == "request_too_large"
    assert "accepts at most 2048" in got["error"]["message"]
    assert flow.comment.startswith("anthropic (refused) · request body is ")


async def test_an_unknown_endpoint_on_a_converting_route_is_a_404(
    engines: EngineFactory, route: Route
) -> None:
    flow = make_flow("POST", "api.anthropic.com", "/v1/files", b"{}")
    got = await assert_refused(engines, route, flow, 404)
    assert got["error"]["type"] == "not_found_error"
    assert flow.comment == "anthropic (refused) · unknown endpoint POST /v1/files"


async def test_a_request_the_first_backend_cannot_express_is_a_400(
    engines: EngineFactory, route: Route
) -> None:
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(n=2))
    got = await assert_refused(engines, route, flow, 400)
    assert got["error"]["message"] == "'n' > 1: Anthropic returns one answer per request"
    assert got["error"]["param"] == "n"
    assert flow.comment.startswith("openai-chat (refused) · route 1 · ")


async def test_a_bad_json_body_is_a_400_in_the_apps_shape(
    engines: EngineFactory, route: Route
) -> None:
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", b'{"model": "m", ')
    got = await assert_refused(engines, route, flow, 400)
    assert got["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in got["error"]["message"]


async def test_no_free_key_is_a_429_naming_the_reason(engines: EngineFactory, route: Route) -> None:
    capped = backend("openai-chat", max_wait=0)
    capped["keys"] = [{"name": "only", "secret": "${K1}", "max_concurrency": 1}]
    cfg = make_config({"b": capped}, [{"match": {}, "backend": "b"}])
    engine = engines(cfg)
    held = await engine.runtime.pool.acquire("b")
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await route(engine, flow, now=False)
    assert flow.response is not None and flow.response.status_code == 429
    message = error_of(flow)["error"]["message"]
    assert message.startswith("crosswire: no key available right now (")
    assert "only" in message
    assert SECRETS["K1"] not in message
    assert engine.flights == {}
    assert held is not None and flow.metadata.get(META) is None


# ---- routed: retargeted -------------------------------------------------------------------------


async def test_a_converted_request_is_retargeted_with_its_headers_and_body(
    engines: EngineFactory,
    route: Route,
) -> None:
    engine = engines(CONVERT)
    flow = make_flow(
        "POST",
        "api.openai.com",
        "/v1/chat/completions",
        chat_body(),
        [("Authorization", f"Bearer {APP_KEY}"), ("OpenAI-Beta", "x"), ("User-Agent", "sdk")],
    )
    await route(engine, flow)
    req = flow.request
    assert flow.response is None
    assert (req.method, req.url) == ("POST", f"{UP}/v1/messages")
    body = req.content or b""
    assert json.loads(body) == {
        "model": "claude-x",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    assert lowered(req.headers) == {
        "host": "up.test",
        "user-agent": "sdk",
        "anthropic-version": "2026-10-21",
        "content-type": "application/json",
        "x-api-key": SECRETS["K1"],
        "accept-encoding": "identity",
        "content-length": str(len(body)),
    }
    assert flow.id not in engine.flights  # made once mitmproxy has sent the request:
    await asyncio.sleep(0)  # the next turn of the event loop
    assert flow.metadata[ORIGINAL_URL] == "POST https://api.openai.com/v1/chat/completions"
    assert flow.metadata[ORIGINAL_REQUEST] == json.dumps(chat_body()).encode()
    record = flow.metadata[META]
    assert {
        k: record[k]
        for k in ("mode", "backend", "key", "model_in", "model_out", "attempts", "status")
    } == {
        "mode": "convert",
        "backend": "claude",
        "key": "k1",
        "model_in": "gpt-4o",
        "model_out": "claude-x",
        "attempts": ["claude/k1"],
        "status": None,
    }
    assert (
        flow.comment
        == "openai-chat → anthropic · route 1 · backend claude · key k1 · gpt-4o → claude-x"
    )
    assert flow.id in engine.flights
    assert flow in layer_patch._EXPECTING  # upstream failures are answered by the engine
    assert await in_flight(engine.runtime) == {"claude/k1": 1, "inspect/k2": 0}


async def test_a_passthrough_request_keeps_its_body_bytes(
    engines: EngineFactory, route: Route
) -> None:
    engine = engines(CONVERT)
    raw = b'{"model":"claude-sonnet-4-5", "max_tokens": 10, "messages": []}'
    flow = make_flow(
        "POST",
        "api.anthropic.com",
        "/v1/messages",
        raw,
        [("x-api-key", APP_KEY), ("anthropic-beta", "b1")],
    )
    await route(engine, flow)
    assert flow.request.url == f"{UP}/v1/messages"
    assert flow.request.content == raw
    headers = lowered(flow.request.headers)
    assert (headers["x-api-key"], headers["anthropic-beta"]) == (SECRETS["K1"], "b1")
    assert ORIGINAL_REQUEST not in flow.metadata  # the sent body is the app's
    await asyncio.sleep(0)  # the flight is made once mitmproxy has sent the request
    assert flow.metadata[META]["mode"] == "passthrough"


# ---- answered locally -----------------------------------------------------------------------------


LOCAL = make_config(
    {"g": backend("gemini", "K1")}, [{"match": {}, "backend": "g", "model": "gemini-2.5-flash"}]
)


async def test_a_model_list_of_another_protocol_is_answered_locally(
    engines: EngineFactory, route: Route
) -> None:
    engine = engines(LOCAL)
    flow = make_flow(
        "GET", "api.anthropic.com", "/v1/models", None, [("anthropic-version", "2023-06-01")]
    )
    await route(engine, flow)
    assert flow.response is not None and flow.response.status_code == 200
    got = json.loads(flow.response.content or b"")
    assert [m["id"] for m in got["data"]] == ["gemini-2.5-flash"]
    assert flow.comment == "anthropic (answered by crosswire) · route 1 · models"
    assert flow.metadata[META]["mode"] == "local"
    assert engine.flights == {}
    assert await in_flight(engine.runtime) == {"g/k1": 0}


async def test_a_token_count_of_another_protocol_is_an_estimate(
    engines: EngineFactory, route: Route
) -> None:
    engine = engines(LOCAL)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages/count_tokens", anthropic_body())
    await route(engine, flow)
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["x-crosswire-estimate"] == "true"
    assert json.loads(flow.response.content or b"") == {"input_tokens": 5}
    assert await in_flight(engine.runtime) == {"g/k1": 0}


# ---- generic and WebSocket flows ------------------------------------------------------------------


async def test_an_unmodelled_endpoint_is_forwarded_with_a_pooled_key(
    engines: EngineFactory,
    route: Route,
) -> None:
    engine = engines(CONVERT)
    flow = make_flow(
        "GET",
        "api.openai.com",
        "/v1/files?purpose=batch",
        None,
        [("Authorization", f"Bearer {APP_KEY}")],
    )
    await route(engine, flow, now=False)
    assert flow.request.url == f"{UP}/v1/files?purpose=batch"
    assert flow.request.headers["authorization"] == f"Bearer {SECRETS['K2']}"
    assert flow.comment == "GET /v1/files (passthrough) · route 2 · backend inspect"
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 1}
    respond(flow, 200, {"data": []})
    engine.responseheaders(flow)
    assert flow.request.headers["authorization"] == "<redacted: k2>"
    await engine.response(flow)
    record = flow.metadata[META]
    assert (record["backend"], record["key"], record["status"]) == ("inspect", "k2", 200)
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 0}


async def test_a_generic_flow_that_fails_keeps_mitmproxys_answer(
    engines: EngineFactory, route: Route
) -> None:
    engine = engines(CONVERT)
    flow = make_flow("GET", "api.openai.com", "/v1/files", None)
    await route(engine, flow, now=False)
    flow.error = mflow.Error("connection refused")
    await engine.error(flow)
    assert layer_patch._EXPECTING[flow] == layer_patch.Answer()  # nothing of crosswire's to say
    assert flow.marked == ":x:"
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 0}


async def test_a_websocket_upgrade_to_a_keyless_responses_backend_is_retargeted(
    engines: EngineFactory,
    route: Route,
) -> None:
    cfg = make_config(
        {"r": backend("openai-responses", base=f"{UP}/v1")}, [{"match": {}, "backend": "r"}]
    )
    engine = engines(cfg)
    flow = make_flow("GET", "api.openai.com", "/v1/responses", None, [("Upgrade", "websocket")])
    await route(engine, flow, now=False)
    assert flow.request.url == f"{UP}/v1/responses"
    assert flow.response is None
    assert flow.comment == "openai-responses websocket (passthrough) · route 1 · backend r"


# ---- the flight, made once the request is on its way ----------------------------------------------


async def test_an_answer_before_the_flight_is_made_makes_it_first(
    engines: EngineFactory, route: Route
) -> None:
    engine = engines(CONVERT)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await route(engine, flow)  # no turn of the event loop before the answer's hooks
    respond(flow, 200, {"error": {"message": "in a 200"}})
    engine.responseheaders(flow)
    assert flow.id in engine.flights
    assert SECRETS["K1"] not in json.dumps(lowered(flow.request.headers))  # redacted at once
    await engine.response(flow)
    assert flow.response is not None and flow.response.status_code == 502  # checked as always
    assert engine.flights == {}
    await asyncio.sleep(0)  # the call made for the next turn finds nothing left to do
    assert engine.flights == {} and await in_flight(engine.runtime) == {
        "claude/k1": 0,
        "inspect/k2": 0,
    }


async def test_a_flight_that_cannot_be_made_frees_its_key_and_hides_it(
    engines: EngineFactory, route: Route, monkeypatch: Any
) -> None:
    engine = engines(CONVERT)

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("crosswire.engine.flight.Flight.took_off", broken)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await route(engine, flow)
    assert lowered(flow.request.headers)["x-api-key"] == SECRETS["K1"]  # as it goes out
    await asyncio.sleep(0)
    assert engine.flights == {}
    assert lowered(flow.request.headers)["x-api-key"] == "<redacted: k1>"  # as it is kept
    await asyncio.sleep(0)  # the lease goes back in a task
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 0}


# ---- failing closed -------------------------------------------------------------------------------


async def test_fail_closed_answers_in_the_apps_protocol_and_frees_the_key(
    engines: EngineFactory,
    route: Route,
) -> None:
    engine = engines(CONVERT)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await route(engine, flow)
    engine.fail_closed(flow)
    assert flow.response is not None and flow.response.status_code == 500
    assert error_of(flow)["error"]["type"] == "api_error"
    assert flow.marked == ":x:" and engine.flights == {}
    await asyncio.sleep(0)  # the lease goes back in a task
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 0}


async def test_a_generic_flow_that_breaks_after_its_lease_gives_the_key_back(
    engines: EngineFactory, route: Route, monkeypatch: Any
) -> None:
    engine = engines(CONVERT)

    def broken(*_: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr("crosswire.engine.generic.upstream.join", broken)
    flow = make_flow("GET", "api.openai.com", "/v1/files", None)
    try:
        await route(engine, flow, now=False)
    except RuntimeError:
        engine.fail_closed(flow)  # what the addon does with an internal error
    assert flow.response is not None and flow.response.status_code == 500
    await asyncio.sleep(0)
    assert await in_flight(engine.runtime) == {"claude/k1": 0, "inspect/k2": 0}
