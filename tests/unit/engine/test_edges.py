"""The engine's less travelled paths: retry times, converter failures, undecodable bodies,
refused sockets, long streams, stored-flow redaction, the relay's own errors, the keeper's
probes, config reloads and quotas without Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import types
from typing import Any

import httpx
import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from crosswire.convert import StreamConverter
from crosswire.engine import keeper as keeper_module
from crosswire.engine.record import META
from crosswire.quotas import Quotas
from tests.unit.engine.conftest import EngineFactory
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    UP,
    Upstream,
    anthropic_body,
    anthropic_error,
    anthropic_overloaded_sse,
    anthropic_sse,
    backend,
    chat_body,
    feed,
    in_flight,
    joined,
    make_config,
    make_flow,
    respond,
    sse_data,
    sse_response,
)

CLAUDE = make_config({"claude": backend("anthropic", "K1")}, [{"match": {}, "backend": "claude"}])


async def test_a_cooled_key_tells_the_app_when_to_retry(engines: EngineFactory) -> None:
    engine = engines(CLAUDE)
    first = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await engine.request(first)
    respond(first, 429, anthropic_error("slow down"), retry_after="30")
    engine.responseheaders(first)
    await engine.response(first)
    again = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await engine.request(again)
    resp = again.response
    assert resp is not None and resp.status_code == 429
    # The upstream's 30 s, less the time since, plus the pool's jitter (at most 10 % + 50 ms).
    ms = int(resp.headers["retry-after-ms"])
    assert 29_000 <= ms <= 33_050
    assert int(resp.headers["retry-after"]) == -(-ms // 1000)
    assert json.loads(resp.content or b"")["error"]["type"] == "rate_limit_error"


async def test_a_converter_crash_mid_stream_ends_the_stream_with_an_error(
    engines: EngineFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = engines(CLAUDE)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(stream=True))
    await engine.request(flow)
    sse_response(flow)
    engine.responseheaders(flow)
    events = anthropic_sse()
    first = feed(flow, events[:1], end=False)

    def crash(self: StreamConverter, data: bytes) -> bytes:
        raise RuntimeError("codec bug")

    monkeypatch.setattr(StreamConverter, "feed", crash)
    with caplog.at_level(logging.ERROR, "crosswire"):
        rest = feed(flow, events[1:2])
    assert "crosswire: stream conversion failed" in caplog.text
    assert sse_data(joined(rest))[-1]["error"]["message"] == "crosswire: stream conversion failed"
    assert sse_data(joined(first))[0]["choices"][0]["delta"]["role"] == "assistant"
    await engine.response(flow)
    assert flow.metadata[META]["error"]["message"] == "crosswire: stream conversion failed"


async def test_a_whole_sse_answer_carrying_an_error_becomes_the_apps_error(
    engines: EngineFactory,
) -> None:
    engine = engines(CLAUDE)
    flow = make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body())
    await engine.request(flow)
    body = b"".join(anthropic_overloaded_sse("overloaded"))
    respond(flow, 200, body, content_type="text/event-stream")
    engine.responseheaders(flow)
    await engine.response(flow)
    resp = flow.response
    assert resp is not None and resp.status_code == 503  # overloaded, as OpenAI SDKs know it
    assert json.loads(resp.content or b"")["error"]["message"] == "overloaded"
    assert flow.marked == ":x:"
    assert await in_flight(engine.runtime) == {"claude/k1": 0}


async def test_a_body_that_does_not_decode_is_refused(engines: EngineFactory) -> None:
    engine = engines(CLAUDE)
    flow = make_flow(
        "POST",
        "api.anthropic.com",
        "/v1/messages",
        b"not gzip at all",
        [("content-encoding", "gzip")],
    )
    await engine.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert json.loads(flow.response.content or b"")["error"]["message"] == (
        "request body cannot be decoded"
    )


async def test_a_bad_token_count_body_is_refused_in_the_apps_shape(engines: EngineFactory) -> None:
    cfg = make_config({"g": backend("gemini", "K1")}, [{"match": {}, "backend": "g"}])
    engine = engines(cfg)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages/count_tokens", b'{"model": 1}')
    await engine.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert json.loads(flow.response.content or b"")["type"] == "error"
    assert await in_flight(engine.runtime) == {"g/k1": 0}


async def test_a_socket_upgrade_without_a_listener_is_refused_so_the_app_uses_https(
    engines: EngineFactory,
) -> None:
    engine = engines(CLAUDE)
    with taddons.context(Proxyserver()):
        flow = make_flow("GET", "api.openai.com", "/v1/responses", None, [("Upgrade", "websocket")])
        await engine.request(flow)
    assert flow.response is not None and flow.response.status_code == 404
    assert flow.marked == ""  # an expected refusal, not an error
    assert flow.comment == "websocket refused (the app falls back to HTTPS) · route 1"


async def test_a_long_passthrough_stream_keeps_bounded_copies_and_finds_its_usage(
    engines: EngineFactory,
) -> None:
    engine = engines(CLAUDE)
    engine.runtime.cfg = make_config(
        {"claude": backend("anthropic", "K1")},
        [{"match": {}, "backend": "claude"}],
        limits={"store_stream_bytes": 4096},
    )
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body(stream=True))
    await engine.request(flow)
    sse_response(flow)
    engine.responseheaders(flow)
    events = anthropic_sse("x" * 1000)
    middle = [events[3]] * 60  # ~70 kB of deltas between the start and the end
    outs = feed(flow, [*events[:3], *middle, *events[3:]])
    assert joined(outs) == b"".join([*events[:3], *middle, *events[3:]])
    await engine.response(flow)
    assert flow.response is not None and len(flow.response.content or b"") == 4096
    assert flow.metadata[META]["usage"]["input"] == 5
    assert flow.metadata[META]["usage"]["output"] == 2


async def test_the_apps_own_credentials_do_not_stay_in_a_stored_generic_flow(
    engines: EngineFactory,
) -> None:
    cfg = make_config(
        {"inspect": backend("auto", client_auth=True)}, [{"match": {}, "backend": "inspect"}]
    )
    engine = engines(cfg)
    flow = make_flow(
        "GET",
        "generativelanguage.googleapis.com",
        f"/v1beta/files?key={APP_KEY}",
        None,
        [("x-goog-api-key", APP_KEY)],
    )
    await engine.request(flow)
    assert flow.request.query["key"] == APP_KEY  # forwarded as the app sent it
    respond(flow, 200, {"files": []})
    engine.responseheaders(flow)
    assert flow.request.headers["x-goog-api-key"] == "<redacted>"
    assert flow.request.query["key"] == "<redacted>"


# ---- the relay's own errors ------------------------------------------------------------------------


# ---- the keeper --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "url", "header"),
    [
        ("anthropic", f"{UP}/v1/models", ("x-api-key", SECRETS["K1"])),
        ("gemini", f"{UP}/v1beta/models", ("x-goog-api-key", SECRETS["K1"])),
        ("ollama", f"{UP}/api/tags", ("authorization", f"Bearer {SECRETS['K1']}")),
        ("auto", f"{UP}/models", ("authorization", f"Bearer {SECRETS['K1']}")),
    ],
)
async def test_a_probe_is_a_cheap_authenticated_get(
    engines: EngineFactory, protocol: str, url: str, header: tuple[str, str]
) -> None:
    cfg = make_config({"b": backend(protocol, "K1")}, [{"match": {}, "backend": "b"}])
    upstream = Upstream([httpx.Response(200, json={}), httpx.Response(401, json={})])
    engine = engines(cfg, upstream)
    keeper = engine.runtime.keeper
    assert await keeper.probe(keeper.backends["b"], SECRETS["K1"]) is True
    assert await keeper.probe(keeper.backends["b"], SECRETS["K1"]) is False
    sent = upstream.requests[0]
    assert (sent.method, str(sent.url)) == ("GET", url)
    assert sent.headers[header[0]] == header[1]
    if protocol == "anthropic":
        assert "anthropic-version" in sent.headers
    upstream.script.append(httpx.ConnectError("down"))
    assert await keeper.probe(keeper.backends["b"], SECRETS["K1"]) is False


async def test_the_probe_loop_brings_a_disabled_key_back(
    engines: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(
        {"b": backend("anthropic", "K1", probe_interval=0.001)}, [{"match": {}, "backend": "b"}]
    )
    upstream = Upstream([httpx.Response(200, json={"data": []})])
    engine = engines(cfg, upstream)
    rt = engine.runtime
    lease = await rt.pool.acquire("b")
    rt.keeper.release(lease, 401, "route 1", body=b'{"error":"invalid key"}')  # type: ignore[arg-type]
    assert [s.disabled for s in await rt.pool.snapshot()] == [True]  # and a probe is scheduled
    real_sleep, ticks = asyncio.sleep, []

    async def one_tick(_: float) -> None:
        if ticks:
            raise asyncio.CancelledError
        ticks.append(1)
        await real_sleep(0.01)

    monkeypatch.setattr(
        keeper_module,
        "asyncio",
        types.SimpleNamespace(sleep=one_tick, get_running_loop=asyncio.get_running_loop),
    )
    with pytest.raises(asyncio.CancelledError):
        await rt.keeper.probe_loop()
    assert [str(r.url) for r in upstream.requests] == [f"{UP}/v1/models"]
    assert [s.disabled for s in await rt.pool.snapshot()] == [False]


async def test_releasing_never_breaks_a_flow(
    engines: EngineFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = engines(CLAUDE)
    rt = engine.runtime
    lease = await rt.pool.acquire("claude")

    async def broken(*_: Any) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(rt.pool, "release", broken)
    with caplog.at_level(logging.ERROR, "crosswire"):
        rt.keeper.release(lease, 200, "route 1")  # type: ignore[arg-type]
    assert "releasing a key lease failed" in caplog.text
    monkeypatch.undo()
    rt.keeper.release(lease, 0, "route 1")  # type: ignore[arg-type]
    rt.keeper.release(None, 0, "route 1")
    await asyncio.sleep(0.01)
    assert await in_flight(rt) == {"claude/k1": 0}
    state = (await rt.pool.snapshot())[0]
    assert state.requests == 0  # released as never sent: nothing counted


# ---- runtime and quotas --------------------------------------------------------------------------------


async def test_a_reload_swaps_the_routes_and_keeps_the_pool(engines: EngineFactory) -> None:
    engine = engines(CLAUDE)
    rt = engine.runtime
    pool = rt.pool
    assert rt.summary() == (
        "1 routes, 1 backends, 1 keys; decrypting api.openai.com, api.anthropic.com, "
        "generativelanguage.googleapis.com, api.mistral.ai, codestral.mistral.ai"
    )
    rt.reconfigure(
        make_config(
            {"claude": backend("anthropic", "K1", "K2")},
            [{"match": {"host": "api.anthropic.com"}, "backend": "claude"}],
        )
    )
    assert rt.pool is pool
    assert rt.summary() == "1 routes, 1 backends, 2 keys; decrypting api.anthropic.com"
    assert await in_flight(rt) == {"claude/k1": 0, "claude/k2": 0}


async def test_quotas_count_locally_while_redis_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    quotas = Quotas(f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, "crosswire"):
        assert [await quotas.take_request("a", 1) for _ in range(2)] == [True, False]
        await quotas.add_tokens("a", 4)
        assert await quotas.usage(["a"]) == {"a": {"requests": 1, "tokens": 4}}
    assert caplog.text.count("client quotas count locally") == 1
    await quotas.close()
