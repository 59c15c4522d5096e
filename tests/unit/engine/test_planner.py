"""The planner: candidates in route order, keys leased and excluded, bodies and headers built."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire import config, ir
from crosswire.engine.headers import field, text_pairs
from crosswire.engine.intake import Incoming, Routed, classify
from crosswire.engine.keeper import pool_specs
from crosswire.engine.planner import Candidate, Planner
from crosswire.pool import MemoryStore, NoKey, Pool
from crosswire.routing import Router
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    anthropic_body,
    backend,
    chat_body,
    make_config,
)

CHAT_UP = "http://chat.up/v1"
CLAUDE_UP = "http://claude.up"
GEMINI_UP = "http://gemini.up"


def planner_for(
    cfg: config.Config,
    method: str,
    host: str,
    path: str,
    body: dict[str, Any] | bytes,
    headers: list[tuple[str, str]] | None = None,
    query: dict[str, str] | None = None,
) -> Planner:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    pairs = tuple(headers or [])
    got = classify(
        Incoming(
            method=method,
            host=host,
            path=path,
            query=query or {},
            headers={k.lower(): v for k, v in pairs},
            fields=tuple(field(k, v) for k, v in pairs),
            body=raw,
        ),
        Router(cfg),
        1 << 20,
    )
    assert isinstance(got, Routed), got
    pool = Pool(MemoryStore())
    pool.configure(pool_specs(cfg))
    return Planner(pool, got)


def chat_planner(
    cfg: config.Config, headers: list[tuple[str, str]] | None = None, **body: Any
) -> Planner:
    return planner_for(
        cfg, "POST", "api.openai.com", "/v1/chat/completions", chat_body(**body), headers
    )


async def in_flight(pool: Pool) -> dict[str, int]:
    return {f"{s.backend}/{s.name}": s.in_flight for s in await pool.snapshot()}


async def take(planner: Planner) -> Candidate:
    got = await planner.next()
    assert got is not None
    return got


def header(candidate: Candidate, name: str) -> list[str]:
    return [v for k, v in text_pairs(candidate.headers) if k.lower() == name]


# ---- candidates ---------------------------------------------------------------------------------


CHAIN = make_config(
    {
        "chat": backend("openai-chat", "K1", "K2", base=CHAT_UP),
        "claude": backend("anthropic", "K3", base=CLAUDE_UP),
        "gemini": backend("gemini", base=GEMINI_UP),
    },
    [{"match": {}, "backend": ["chat", "claude", "gemini"]}],
)


async def test_candidates_follow_the_route_every_key_once_then_none() -> None:
    planner = chat_planner(CHAIN)
    assert planner.failover_possible
    got = [await take(planner) for _ in range(4)]
    assert [(c.backend.name, c.mode, c.protocol) for c in got] == [
        ("chat", "passthrough", "openai-chat"),
        ("chat", "passthrough", "openai-chat"),
        ("claude", "convert", "anthropic"),
        ("gemini", "convert", "gemini"),
    ]
    assert {got[0].key_name, got[1].key_name} == {"k1", "k2"}  # the retry excludes the tried key
    assert [c.key_name for c in got[2:]] == ["k3", None]
    assert [c.url for c in got] == [
        f"{CHAT_UP}/chat/completions",
        f"{CHAT_UP}/chat/completions",
        f"{CLAUDE_UP}/v1/messages",
        f"{GEMINI_UP}/v1beta/models/gpt-4o:generateContent",
    ]
    assert [c.label for c in got] == [
        f"chat/{got[0].key_name}",
        f"chat/{got[1].key_name}",
        "claude/k3",
        "gemini/-",
    ]
    assert await planner.next() is None
    assert await planner.next() is None
    assert [(r.backend, r.reason) for r in planner.refusals] == [
        ("chat", "every key of chat was already tried (k1, k2)"),
        ("claude", "every key of claude was already tried (k3)"),
    ]
    assert await in_flight(planner.pool) == {"chat/k1": 1, "chat/k2": 1, "claude/k3": 1}


async def test_the_ir_request_is_decoded_once_for_every_converting_backend() -> None:
    cfg = make_config(
        {"claude": backend("anthropic", "K1", "K2", base=CLAUDE_UP)},
        [{"match": {}, "backend": "claude"}],
    )
    planner = chat_planner(cfg)
    first, second = await take(planner), await take(planner)
    assert first.exchange is not None and second.exchange is not None
    assert second.exchange.request is first.exchange.request is planner.decoded()
    assert first.body == second.body
    assert json.loads(first.body) == {
        "model": "gpt-4o",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


async def test_a_keyless_backend_is_tried_once() -> None:
    cfg = make_config(
        {"open": backend("openai-chat", base=CHAT_UP)}, [{"match": {}, "backend": "open"}]
    )
    planner = chat_planner(cfg)
    assert not planner.failover_possible
    first = await take(planner)
    assert (first.lease, first.key_name, first.secret, first.auth_header) == (
        None,
        None,
        None,
        None,
    )
    assert await planner.next() is None
    assert planner.refusals == [] and planner.skipped == []


@pytest.mark.parametrize(
    ("backends", "possible"),
    [
        ({"a": backend("openai-chat", "K1")}, False),
        ({"a": backend("openai-chat", "K1", "K2")}, True),
        ({"a": backend("openai-chat"), "b": backend("anthropic")}, True),
    ],
)
def test_failover_is_possible_with_a_second_key_or_backend(
    backends: dict[str, Any], possible: bool
) -> None:
    cfg = make_config(backends, [{"match": {}, "backend": list(backends)}])
    assert chat_planner(cfg).failover_possible is possible


async def test_a_later_backend_that_cannot_express_the_request_is_skipped() -> None:
    cfg = make_config(
        {"chat": backend("openai-chat", "K1", base=CHAT_UP), "claude": backend("anthropic", "K2")},
        [{"match": {}, "backend": ["chat", "claude"]}],
    )
    planner = chat_planner(cfg, n=2)
    assert (await take(planner)).backend.name == "chat"  # passthrough: nothing to express
    assert await planner.next() is None
    assert planner.skipped == ["claude: 'n' > 1: Anthropic returns one answer per request"]
    assert await in_flight(planner.pool) == {"chat/k1": 1, "claude/k2": 0}  # its lease went back


async def test_the_first_backend_refusing_the_request_raises_and_keeps_no_lease() -> None:
    cfg = make_config(
        {"claude": backend("anthropic", "K1"), "chat": backend("openai-chat", "K2")},
        [{"match": {}, "backend": ["claude", "chat"]}],
    )
    planner = chat_planner(cfg, n=2)
    with pytest.raises(ir.ClientRequestError, match="'n' > 1"):
        await planner.next()
    assert await in_flight(planner.pool) == {"claude/k1": 0, "chat/k2": 0}


async def test_a_backend_with_every_key_busy_is_passed_over() -> None:
    busy = backend("openai-chat", max_wait=0)
    busy["keys"] = [{"name": "k1", "secret": "${K1}", "max_concurrency": 1}]
    cfg = make_config(
        {"a": busy, "b": backend("openai-chat", "K2")}, [{"match": {}, "backend": ["a", "b"]}]
    )
    planner = chat_planner(cfg)
    assert not isinstance(await planner.pool.acquire("a"), NoKey)  # another flow holds it
    got = await take(planner)
    assert (got.backend.name, got.key_name) == ("b", "k2")
    assert [r.backend for r in planner.refusals] == ["a"]


# ---- passthrough bodies -------------------------------------------------------------------------


def clamp_cfg(protocol: str, **kw: Any) -> config.Config:
    return make_config({"b": backend(protocol, "K1", **kw)}, [{"match": {}, "backend": "b"}])


async def test_passthrough_clamps_every_max_tokens_key_over_the_backend_limit() -> None:
    planner = chat_planner(
        clamp_cfg("openai-chat", max_output_tokens=1000), max_tokens=5000, max_completion_tokens=800
    )
    got = await take(planner)
    body = json.loads(got.body)
    assert (body["max_tokens"], body["max_completion_tokens"]) == (1000, 800)
    assert got.report.notes == [
        ir.Note(action="clamped", field="max_tokens", reason="5000 → 1000 (backend limit)")
    ]


@pytest.mark.parametrize(
    ("protocol", "host", "path", "body", "key"),
    [
        (
            "anthropic",
            "api.anthropic.com",
            "/v1/messages",
            anthropic_body(max_tokens=32000),
            "max_tokens",
        ),
        (
            "openai-responses",
            "api.openai.com",
            "/v1/responses",
            {"model": "claude-x", "input": "hi", "max_output_tokens": 32000},
            "max_output_tokens",
        ),
        (
            "fim",
            "codestral.mistral.ai",
            "/v1/fim/completions",
            {"model": "claude-x", "prompt": "a", "max_tokens": 32000},
            "max_tokens",
        ),
    ],
)
async def test_each_protocol_clamps_its_own_key_with_per_model_limits(
    protocol: str, host: str, path: str, body: dict[str, Any], key: str
) -> None:
    cfg = make_config(
        {"b": backend(protocol, "K1", models={"claude-*": {"max_output_tokens": 2000}})},
        [{"match": {}, "backend": "b", "model": "claude-x"}],
    )
    got = await take(planner_for(cfg, "POST", host, path, body))
    assert got.mode == "passthrough"
    assert json.loads(got.body)[key] == 2000
    assert [n.field for n in got.report.notes] == [key]


async def test_passthrough_under_the_limit_or_without_one_keeps_the_body_bytes() -> None:
    raw = b'{"model": "gpt-4o",  "max_tokens": 900, "messages": []}'
    for cfg in (clamp_cfg("openai-chat", max_output_tokens=1000), clamp_cfg("openai-chat")):
        got = await take(planner_for(cfg, "POST", "api.openai.com", "/v1/chat/completions", raw))
        assert got.body is not None and got.body == raw
        assert got.report.notes == []


async def test_passthrough_renames_the_model_in_the_body() -> None:
    cfg = make_config(
        {"b": backend("openai-chat", "K1")}, [{"match": {}, "backend": "b", "model": "gpt-5-mini"}]
    )
    got = await take(chat_planner(cfg))
    assert json.loads(got.body)["model"] == "gpt-5-mini"
    assert got.model_out == "gpt-5-mini"


async def test_passthrough_renames_a_gemini_model_in_the_path_not_the_body() -> None:
    cfg = make_config(
        {"g": backend("gemini", "K1", base=GEMINI_UP)},
        [{"match": {}, "backend": "g", "model": "gemini-2.5-pro"}],
    )
    raw = b'{"contents": []}'
    planner = planner_for(
        cfg,
        "POST",
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        raw,
        query={"alt": "sse", "key": APP_KEY},
    )
    got = await take(planner)
    assert got.url == f"{GEMINI_UP}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert got.body == raw
    assert got.stream is True


# ---- credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "extra", "expected"),
    [
        ("openai-chat", {}, ("authorization", f"Bearer {SECRETS['K1']}")),
        ("anthropic", {}, ("x-api-key", SECRETS["K1"])),
        ("gemini", {}, ("x-goog-api-key", SECRETS["K1"])),
        ("ollama", {}, ("authorization", f"Bearer {SECRETS['K1']}")),
        ("openai-chat", {"dialect": "azure"}, ("api-key", SECRETS["K1"])),
    ],
)
async def test_a_pooled_key_goes_where_the_backend_protocol_wants_it(
    protocol: str, extra: dict[str, Any], expected: tuple[str, str]
) -> None:
    cfg = make_config({"b": backend(protocol, "K1", **extra)}, [{"match": {}, "backend": "b"}])
    got = await take(chat_planner(cfg, [("Authorization", f"Bearer {APP_KEY}")]))
    name, value = expected
    assert (got.key_name, got.secret, got.auth_header) == ("k1", SECRETS["K1"], name)
    assert header(got, name) == [value]
    assert APP_KEY not in json.dumps(text_pairs(got.headers))


def inspect_cfg(protocol: str = "auto", client_auth: bool = True) -> config.Config:
    return make_config(
        {"b": backend(protocol, base=CLAUDE_UP, client_auth=client_auth)},
        [{"match": {}, "backend": "b"}],
    )


async def messages(cfg: config.Config, headers: list[tuple[str, str]]) -> Candidate:
    return await take(
        planner_for(cfg, "POST", "api.anthropic.com", "/v1/messages", anthropic_body(), headers)
    )


async def test_the_apps_own_key_is_forwarded_in_its_own_header() -> None:
    got = await messages(inspect_cfg(), [("x-api-key", APP_KEY)])
    assert (got.key_name, got.auth_header, got.lease) == ("(app's own key)", "x-api-key", None)
    assert header(got, "x-api-key") == [APP_KEY]
    assert header(got, "authorization") == []


async def test_the_apps_own_bearer_token_keeps_its_bearer_form() -> None:
    # Claude Code's OAuth token (sk-ant-oat…) is only accepted as a Bearer token.
    got = await messages(inspect_cfg(), [("Authorization", "Bearer sk-ant-oat01-app")])
    assert got.auth_header == "authorization"
    assert header(got, "authorization") == ["Bearer sk-ant-oat01-app"]
    assert header(got, "x-api-key") == []


async def test_the_apps_own_key_to_another_protocol_takes_that_protocols_header() -> None:
    got = await take(
        chat_planner(inspect_cfg("anthropic"), [("Authorization", f"Bearer {APP_KEY}")])
    )
    assert got.mode == "convert"
    assert header(got, "x-api-key") == [APP_KEY]
    assert header(got, "authorization") == []


async def test_without_keys_or_client_auth_no_credential_is_sent() -> None:
    got = await messages(
        inspect_cfg(client_auth=False), [("x-api-key", APP_KEY), ("Authorization", "Bearer x")]
    )
    assert (got.key_name, got.secret, got.auth_header) == (None, None, None)
    names = {k.lower() for k, _ in text_pairs(got.headers)}
    assert not names & {"authorization", "x-api-key", "x-goog-api-key", "api-key"}


# ---- headers --------------------------------------------------------------------------------------

#: Never sent on: framing, hop-by-hop, the app's credentials (whatever the backend).
DROPPED = [
    ("Host", "api.openai.com"),
    ("Content-Length", "99"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "keep-alive"),
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Authorization", "Basic eDp5"),
    ("Proxy-Connection", "keep-alive"),
    ("TE", "trailers"),
    ("Upgrade", "h2c"),
    ("Accept-Encoding", "gzip, br"),
    ("Authorization", f"Bearer {APP_KEY}"),
    ("X-Api-Key", APP_KEY),
    ("X-Goog-Api-Key", APP_KEY),
    ("Api-Key", APP_KEY),
]
UA, OS = ("User-Agent", "OpenAI/Python 3.54"), ("X-Stainless-OS", "Linux")
#: The app's other headers: all kept in passthrough.
OWN = [
    UA,
    ("Content-Type", "application/json"),
    ("OpenAI-Beta", "assistants=v2"),
    ("Anthropic-Beta", "tools-2024"),
    ("X-Goog-User-Project", "p"),
    ("X-Stainless-Helper-Method", "stream"),
    OS,
]


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("openai-chat", [*OWN, ("authorization", f"Bearer {SECRETS['K1']}")]),
        # Converting: other protocols' headers and the content type go too; the codec's come.
        (
            "anthropic",
            [
                UA,
                OS,
                ("anthropic-version", "2026-10-21"),
                ("content-type", "application/json"),
                ("x-api-key", SECRETS["K1"]),
            ],
        ),
    ],
)
async def test_the_headers_sent_upstream(protocol: str, expected: list[tuple[str, str]]) -> None:
    cfg = make_config(
        {"b": backend(protocol, "K1", headers={"X-Team": "red"})},
        [{"match": {}, "backend": "b"}],
    )
    got = await take(chat_planner(cfg, [*DROPPED, *OWN]))
    assert text_pairs(got.headers) == [
        *expected,
        ("X-Team", "red"),
        ("accept-encoding", "identity"),
    ]


async def test_the_passthrough_url_maps_the_sdk_base_and_drops_a_query_key() -> None:
    cfg = make_config(
        {"b": backend("anthropic", "K1", base="http://claude.up/proxy")},
        [{"match": {}, "backend": "b"}],
    )
    planner = planner_for(
        cfg,
        "POST",
        "api.anthropic.com",
        "/v1/messages",
        anthropic_body(),
        query={"beta": "true", "key": "k"},
    )
    got = await take(planner)
    assert got.url == "http://claude.up/proxy/v1/messages?beta=true"
    assert got.method == "POST"


# ---- side endpoints ------------------------------------------------------------------------------


async def test_a_side_endpoint_of_another_protocol_is_planned_for_a_local_answer() -> None:
    cfg = make_config({"b": backend("gemini", "K1")}, [{"match": {}, "backend": "b"}])
    body = anthropic_body()
    planner = planner_for(cfg, "POST", "api.anthropic.com", "/v1/messages/count_tokens", body)
    got = await take(planner)
    assert (got.mode, got.url, got.exchange) == ("convert", "", None)
    decoded = planner.decoded()
    assert decoded is planner.decoded()
    assert decoded.model == "claude-sonnet-4-5"
