"""Client access before the engine, client quotas after it: admission in the app's own error
shape, the token as API key or as proxy credentials, quotas counted in memory."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from crosswire.access import ClientAccess, ClientQuota, _proxy_token
from crosswire.engine.dispatch import Engine
from crosswire.engine.record import META
from crosswire.quotas import Quotas
from tests.unit.engine.conftest import EngineFactory
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    anthropic_body,
    anthropic_message,
    backend,
    chat_body,
    in_flight,
    make_config,
    make_flow,
    respond,
    run_hook,
)

CI, DEV = SECRETS["TOKEN_CI"], SECRETS["TOKEN_DEV"]
CFG = make_config(
    {"claude": backend("anthropic", "K1"), "inspect": backend("auto", client_auth=True)},
    [
        {"match": {"host": "api.anthropic.com"}, "backend": "claude"},
        {"match": {"host": "api.openai.com"}, "backend": "inspect"},
    ],
    clients=[
        {"name": "ci", "token": "${TOKEN_CI}", "routes": [1], "max_requests": 2},
        {"name": "dev", "token": "${TOKEN_DEV}", "max_tokens": 5},
    ],
)


class Chain:
    """The addons in mitmproxy's order (mitm.py): access, the engine, quotas."""

    #: Whether requests are routed from inside the HTTP layer (the ``way`` fixture).
    layer = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.access = ClientAccess(engine)
        self.quota = ClientQuota(engine)

    async def request(self, flow: http.HTTPFlow) -> None:
        if self.layer:  # what the addon's `_request_now` does, then the hooks if it must
            admit = self.access.request_in_layer()
            assert admit is not None  # memory quotas
            admit(flow)
            if flow.response is not None or self.engine.request_now(flow):
                await asyncio.sleep(0)
                return
        await run_hook(self.access.request(flow))  # admits once: not again after the layer
        if flow.response is None:
            await self.engine.request(flow)
            await asyncio.sleep(0)  # mitmproxy sends it; the engine makes the flight

    async def answer(self, flow: http.HTTPFlow, body: dict[str, Any]) -> None:
        respond(flow, 200, body)
        self.engine.responseheaders(flow)
        await self.engine.response(flow)
        await run_hook(self.quota.response(flow))


@pytest.fixture(autouse=True, params=["hook", "layer"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Chain, "layer", request.param == "layer")


def messages(*headers: tuple[str, str], **kw: Any) -> http.HTTPFlow:
    return make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body(), headers, **kw)


def chat(*headers: tuple[str, str], **kw: Any) -> http.HTTPFlow:
    return make_flow("POST", "api.openai.com", "/v1/chat/completions", chat_body(), headers, **kw)


def refusal(flow: http.HTTPFlow, status: int) -> dict[str, Any]:
    assert flow.response is not None and flow.response.status_code == status
    assert flow.marked == ":no_entry:"
    got: dict[str, Any] = json.loads(flow.response.content or b"")
    assert CI not in json.dumps(got) and DEV not in json.dumps(got)
    return got


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


# ---- admission ---------------------------------------------------------------------------------


async def test_without_a_token_the_app_gets_a_401_in_its_shape(engines: EngineFactory) -> None:
    engine = engines(CFG)
    chain = Chain(engine)
    flow = messages()
    await chain.request(flow)
    assert refusal(flow, 401)["error"] == {
        "type": "authentication_error",
        "message": "crosswire: this proxy requires a client token; present it as your API key",
    }
    assert flow.comment.startswith("anthropic (refused) · route 1 · ")
    assert engine.flights == {}
    assert await in_flight(engine.runtime) == {"claude/k1": 0}


async def test_an_unknown_token_is_a_401(engines: EngineFactory) -> None:
    flow = messages(("x-api-key", "cw-token-nobody"))
    await Chain(engines(CFG)).request(flow)
    assert refusal(flow, 401)["error"]["message"] == "crosswire: unknown client token"


async def test_a_route_the_client_may_not_use_is_a_403(engines: EngineFactory) -> None:
    flow = chat(("Proxy-Authorization", basic("ci", CI)), ("Authorization", f"Bearer {APP_KEY}"))
    await Chain(engines(CFG)).request(flow)
    got = refusal(flow, 403)["error"]
    assert got["message"] == "crosswire: client 'ci' may not use route 2"
    assert got["type"] == "permission_error"


async def test_the_request_quota_is_a_429_once_used(engines: EngineFactory) -> None:
    engine = engines(CFG)
    chain = Chain(engine)
    for _ in range(2):
        flow = messages(("x-api-key", CI))
        await chain.request(flow)
        assert flow.response is None
    flow = messages(("x-api-key", CI))
    await chain.request(flow)
    got = refusal(flow, 429)["error"]
    assert got["message"] == "crosswire: client 'ci' used its 2 requests"
    assert await engine.runtime.quotas.usage(["ci", "dev"]) == {
        "ci": {"requests": 2, "tokens": 0},
        "dev": {"requests": 0, "tokens": 0},
    }


async def test_the_token_quota_counts_finished_exchanges(engines: EngineFactory) -> None:
    engine = engines(CFG)
    chain = Chain(engine)
    flow = messages(("x-api-key", DEV))
    await chain.request(flow)
    await chain.answer(flow, anthropic_message())  # 5 in + 2 out
    assert flow.metadata[META]["client"] == "dev"
    assert await engine.runtime.quotas.tokens("dev") == 7
    flow = messages(("x-api-key", DEV))
    await chain.request(flow)
    assert refusal(flow, 429)["error"]["message"] == "crosswire: client 'dev' used its 5 tokens"


# ---- where the token comes from ------------------------------------------------------------------


async def test_a_token_as_api_key_never_reaches_the_upstream(engines: EngineFactory) -> None:
    engine = engines(CFG)
    flow = make_flow(
        "POST",
        "api.anthropic.com",
        "/v1/messages?key=" + CI,
        anthropic_body(),
        [("x-api-key", CI), ("Authorization", f"Bearer {CI}")],
    )
    await Chain(engine).request(flow)
    assert flow.response is None
    headers = dict(flow.request.headers.items())
    assert headers["x-api-key"] == SECRETS["K1"]  # the pool's key
    assert CI not in json.dumps(headers) and CI not in flow.request.url
    assert flow.metadata[META]["client"] == "ci"


async def test_proxy_credentials_on_the_connect_admit_the_tunnels_requests(
    engines: EngineFactory,
) -> None:
    engine = engines(CFG)
    chain = Chain(engine)
    connect = tflow.tflow()
    connect.request.method = "CONNECT"
    connect.request.headers["Proxy-Authorization"] = basic("dev", DEV)
    chain.access.http_connect(connect)
    assert "proxy-authorization" not in connect.request.headers
    # Inside the tunnel: the app's own provider key, forwarded to the client_auth route.
    flow = chat(("Authorization", f"Bearer {APP_KEY}"), client_conn=connect.client_conn)
    await chain.request(flow)
    assert flow.response is None
    assert flow.request.headers["authorization"] == f"Bearer {APP_KEY}"
    assert flow.metadata[META]["client"] == "dev"
    # The tunnel closes: its token is forgotten.
    chain.access.client_disconnected(connect.client_conn)
    again = chat(("Authorization", f"Bearer {APP_KEY}"), client_conn=connect.client_conn)
    await chain.request(again)
    assert refusal(again, 401)["error"]["message"] == "crosswire: unknown client token"


async def test_proxy_credentials_on_a_plain_request_are_used_and_removed(
    engines: EngineFactory,
) -> None:
    flow = chat(("Proxy-Authorization", f"Bearer {DEV}"), ("Authorization", f"Bearer {APP_KEY}"))
    await Chain(engines(CFG)).request(flow)
    assert flow.response is None
    assert "proxy-authorization" not in flow.request.headers
    assert flow.request.headers["authorization"] == f"Bearer {APP_KEY}"


async def test_a_token_as_api_key_on_a_client_auth_route_is_refused(engines: EngineFactory) -> None:
    # The route would forward the app's own provider key, and the app gave its token instead.
    flow = chat(("Authorization", f"Bearer {DEV}"))
    await Chain(engines(CFG)).request(flow)
    got = refusal(flow, 401)["error"]
    assert got["message"].startswith("crosswire: route 2 forwards the app's own provider key")
    assert "HTTPS_PROXY=http://NAME:TOKEN@HOST:PORT" in got["message"]


async def test_unmodelled_endpoints_need_a_token_too(engines: EngineFactory) -> None:
    flow = make_flow("GET", "api.openai.com", "/v1/files", None)
    await Chain(engines(CFG)).request(flow)
    assert refusal(flow, 401)["error"]["message"].startswith("crosswire: this proxy requires")


async def test_requests_crosswire_does_not_route_are_left_alone(engines: EngineFactory) -> None:
    flow = make_flow("POST", "example.com", "/v1/messages", anthropic_body())
    original = flow.request.url
    await Chain(engines(CFG)).request(flow)
    assert (flow.response, flow.request.url) == (None, original)


async def test_without_clients_in_the_config_everyone_is_admitted(engines: EngineFactory) -> None:
    cfg = make_config({"claude": backend("anthropic", "K1")}, [{"match": {}, "backend": "claude"}])
    engine = engines(cfg)
    access = ClientAccess(engine)
    connect = tflow.tflow()
    connect.request.headers["Proxy-Authorization"] = basic("x", "y")
    access.http_connect(connect)
    assert connect.request.headers["proxy-authorization"] == basic("x", "y")
    flow = messages()
    await run_hook(access.request(flow))
    assert flow.response is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (basic("ci", "tok:with:colons"), "tok:with:colons"),
        ("Bearer  tok ", "tok"),
        ("basic " + base64.b64encode(b"name-only").decode(), None),
        ("Basic " + base64.b64encode(b"name:").decode(), None),
        ("Basic not-base64!", None),
        ("Digest abc", None),
        ("", None),
    ],
)
def test_proxy_token_parsing(value: str, expected: str | None) -> None:
    assert _proxy_token(value) == expected


# ---- quotas in memory --------------------------------------------------------------------------


async def test_memory_quotas_count_requests_and_tokens() -> None:
    quotas = Quotas("memory")
    assert [await quotas.take_request("a", 2) for _ in range(3)] == [True, True, False]
    assert all([await quotas.take_request("b", None) for _ in range(5)])
    await quotas.add_tokens("a", 10)
    await quotas.add_tokens("a", 0)
    await quotas.add_tokens("a", -3)
    assert await quotas.tokens("a") == 10
    assert await quotas.usage(["a", "b", "c"]) == {
        "a": {"requests": 2, "tokens": 10},
        "b": {"requests": 5, "tokens": 0},
        "c": {"requests": 0, "tokens": 0},
    }
    await quotas.close()


async def test_client_quota_ignores_flows_without_a_client(engines: EngineFactory) -> None:
    engine = engines(CFG)
    quota = ClientQuota(engine)
    flow = messages()
    flow.metadata[META] = {"client": None, "usage": {"input": 9, "output": 9}}
    await run_hook(quota.response(flow))
    flow.metadata[META] = {"client": "dev", "usage": None}
    await run_hook(quota.error(flow))
    assert await engine.runtime.quotas.usage(["dev"]) == {"dev": {"requests": 0, "tokens": 0}}
