"""intake.classify: the first decision about a request, on plain values (no mitmproxy)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.engine.headers import field
from crosswire.engine.intake import (
    NOT_OURS,
    Generic,
    Incoming,
    Refused,
    Routed,
    Upgrade,
    classify,
    client_credential,
    session_of,
)
from crosswire.routing import Router
from tests.unit.engine.helpers import backend, make_config

CFG = make_config(
    {
        "chat": backend("openai-chat", "K1"),
        "claude": backend("anthropic", "K2"),
        "inspect": backend("auto", client_auth=True),
        "ollama": backend("ollama", base="http://ollama.up"),
    },
    [
        {"match": {"host": "api.anthropic.com", "model": "claude-haiku*"}, "backend": "chat"},
        {"match": {"host": "api.anthropic.com"}, "backend": "claude"},
        {"match": {"host": "ollama.test"}, "backend": "ollama"},
        {"match": {}, "backend": "inspect"},
    ],
)
ROUTER = Router(CFG)
LIMIT = 4096


def incoming(
    method: str,
    host: str,
    path: str,
    body: bytes | dict[str, Any] | None = b"",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Incoming:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = headers or {}
    return Incoming(
        method=method,
        host=host,
        path=path,
        query=query or {},
        headers={k.lower(): v for k, v in hdrs.items()},
        fields=tuple(field(k, v) for k, v in hdrs.items()),
        body=raw,
    )


def routed(req: Incoming) -> Routed:
    got = classify(req, ROUTER, LIMIT)
    assert isinstance(got, Routed), got
    return got


# ---- not ours ---------------------------------------------------------------------------------


def test_a_host_no_route_names_is_not_ours() -> None:
    req = incoming("POST", "example.com", "/v1/chat/completions", {"model": "m"})
    assert classify(req, ROUTER, LIMIT) is NOT_OURS


def test_a_routed_host_whose_routes_all_refuse_the_request_is_not_ours() -> None:
    # only-chat.test has one route, for openai-chat: an Anthropic call there is not crosswire's.
    cfg = make_config(
        {"chat": backend("openai-chat")},
        [{"match": {"host": "only-chat.test", "protocol": "openai-chat"}, "backend": "chat"}],
    )
    req = incoming("POST", "only-chat.test", "/v1/messages", {"model": "m"})
    assert classify(req, Router(cfg), LIMIT) is NOT_OURS
    # …and neither is an unknown path or a WebSocket upgrade there.
    assert classify(incoming("GET", "only-chat.test", "/v1/files"), Router(cfg), LIMIT) is NOT_OURS
    ws = incoming("GET", "only-chat.test", "/v1/responses", headers={"Upgrade": "websocket"})
    assert classify(ws, Router(cfg), LIMIT) is NOT_OURS


# ---- refused ----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_in_the_apps_protocol() -> None:
    body = b'{"model":"claude-sonnet-4-5","pad":"' + b"x" * LIMIT + b'"}'
    got = classify(incoming("POST", "api.anthropic.com", "/v1/messages", body), ROUTER, LIMIT)
    assert isinstance(got, Refused)
    assert got.protocol == "anthropic"
    assert got.call is not None and got.call.endpoint == "generate"
    assert got.error == ir.Error(
        kind="request_too_large",
        status=413,
        message=f"request body is {len(body)} bytes; this proxy accepts at most {LIMIT}",
    )
    assert got.label == f"anthropic (refused) · {got.error.message}"


def test_a_body_exactly_at_the_limit_is_routed() -> None:
    pad = LIMIT - len(b'{"model":"m","p":""}')
    body = b'{"model":"m","p":"' + b"x" * pad + b'"}'
    assert len(body) == LIMIT
    assert isinstance(
        classify(incoming("POST", "api.openai.com", "/v1/chat/completions", body), ROUTER, LIMIT),
        Routed,
    )


def test_an_undecodable_body_is_refused_as_invalid() -> None:
    req = incoming(
        "POST", "generativelanguage.googleapis.com", "/v1beta/models/g:generateContent", None
    )
    got = classify(req, ROUTER, LIMIT)
    assert isinstance(got, Refused)
    assert got.protocol == "gemini"
    assert got.error == ir.Error(
        kind="invalid_request", status=400, message="request body cannot be decoded"
    )
    assert got.label == "gemini (refused) · request body cannot be decoded"


def test_an_unknown_endpoint_on_a_converting_route_is_refused_in_the_hosts_protocol() -> None:
    got = classify(incoming("POST", "api.anthropic.com", "/v1/files", b"{}"), ROUTER, LIMIT)
    assert isinstance(got, Refused)
    assert got.protocol == "anthropic"  # the host's protocol: the path names none
    assert got.call is None
    assert got.error.kind == "not_found" and got.error.status == 404
    assert got.error.message == (
        "crosswire: POST /v1/files is not an endpoint it routes on api.anthropic.com"
    )
    assert got.label == "anthropic (refused) · unknown endpoint POST /v1/files"


def test_an_unknown_endpoint_on_an_auto_route_is_forwarded_generic() -> None:
    req = incoming("GET", "api.openai.com", "/v1/files", query={"purpose": "batch"})
    got = classify(req, ROUTER, LIMIT)
    assert isinstance(got, Generic)
    assert got.route.index == 3
    assert (got.path, dict(got.query)) == ("/v1/files", {"purpose": "batch"})


# ---- upgrade ----------------------------------------------------------------------------------


def test_a_websocket_upgrade_on_a_routed_host() -> None:
    req = incoming(
        "GET", "api.openai.com", "/v1/responses", headers={"Upgrade": "WebSocket"}, query={"a": "1"}
    )
    got = classify(req, ROUTER, LIMIT)
    assert isinstance(got, Upgrade)
    assert got.route.index == 3
    assert (got.path, dict(got.query)) == ("/v1/responses", {"a": "1"})


# ---- routed -----------------------------------------------------------------------------------


def test_the_model_comes_from_the_body_and_picks_the_route() -> None:
    haiku = routed(
        incoming("POST", "api.anthropic.com", "/v1/messages", {"model": "claude-haiku-4"})
    )
    assert (haiku.model, haiku.route.index) == ("claude-haiku-4", 0)
    sonnet = routed(
        incoming("POST", "api.anthropic.com", "/v1/messages", {"model": "claude-sonnet"})
    )
    assert (sonnet.model, sonnet.route.index) == ("claude-sonnet", 1)
    # A non-string model is no model (the route without a model match takes it).
    odd = routed(incoming("POST", "api.anthropic.com", "/v1/messages", {"model": 7}))
    assert (odd.model, odd.route.index) == (None, 1)


def test_the_model_in_a_gemini_path_wins_over_the_body() -> None:
    got = routed(
        incoming(
            "POST",
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"model": "not-this"},
        )
    )
    assert got.model == "gemini-2.5-flash"
    assert got.call.model == "gemini-2.5-flash"


def test_routed_keeps_the_request_as_it_came() -> None:
    headers = {"Authorization": "Bearer sk-app", "X-Session-Id": "s1"}
    body = {"model": "gpt-4o", "messages": []}
    got = routed(incoming("POST", "api.openai.com", "/v1/chat/completions", body, headers))
    assert got.body == json.dumps(body).encode()
    assert got.fields == ((b"Authorization", b"Bearer sk-app"), (b"X-Session-Id", b"s1"))
    assert got.credential == "sk-app"
    assert got.client is None
    assert (got.call.protocol, got.call.endpoint, got.call.method) == (
        "openai-chat",
        "generate",
        "POST",
    )


@pytest.mark.parametrize(
    ("host", "path", "query", "body", "stream"),
    [
        ("api.openai.com", "/v1/chat/completions", {}, {"model": "m"}, False),
        ("api.openai.com", "/v1/chat/completions", {}, {"model": "m", "stream": True}, True),
        ("api.openai.com", "/v1/chat/completions", {}, {"model": "m", "stream": "true"}, False),
        ("api.openai.com", "/v1/responses", {}, {"model": "m", "stream": True}, True),
        ("api.anthropic.com", "/v1/messages", {}, {"model": "m", "stream": False}, False),
        ("ollama.test", "/api/chat", {}, {"model": "m"}, True),  # Ollama streams by default
        ("ollama.test", "/api/generate", {}, {"model": "m"}, True),
        ("ollama.test", "/api/chat", {}, {"model": "m", "stream": False}, False),
        ("ollama.test", "/api/chat", {}, {"model": "m", "stream": None}, True),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/g:streamGenerateContent",
            {"alt": "sse"},
            {"stream": False},  # the path decides for Gemini
            True,
        ),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/g:generateContent",
            {},
            {"stream": True},
            False,
        ),
    ],
)
def test_stream_detection(
    host: str, path: str, query: dict[str, str], body: dict[str, Any], stream: bool
) -> None:
    assert routed(incoming("POST", host, path, body, query=query)).stream is stream


def test_an_empty_body_is_routed_without_model_and_without_stream() -> None:
    got = routed(incoming("POST", "api.openai.com", "/v1/chat/completions", b""))
    assert (got.model, got.stream, got.body) == (None, False, b"")


def test_the_session_comes_from_the_first_session_header_else_the_body_head() -> None:
    def digest(value: bytes) -> str:
        return hashlib.sha1(value).hexdigest()[:16]

    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 3000}]})
    req = incoming(
        "POST",
        "api.anthropic.com",
        "/v1/messages",
        body.encode(),
        {"X-Session-Id": "later", "X-Claude-Code-Session-Id": "claude-1"},
    )
    assert routed(req).session == digest(b"claude-1")
    assert session_of({"session_id": "codex"}, b"") == digest(b"codex")
    assert session_of({"x-conversation-id": "c"}, b"") == digest(b"c")
    # Without a header: the start of the body, which a conversation's later turns share.
    plain = routed(incoming("POST", "api.anthropic.com", "/v1/messages", body.encode()))
    assert plain.session == digest(body.encode()[:2048])
    longer = body[:-3] + ', "more"]}'
    assert session_of({}, longer.encode()) == plain.session


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"authorization": "Bearer  sk-1 "}, {}, "sk-1"),
        ({"authorization": "bearer sk-1"}, {}, "sk-1"),
        ({"authorization": "sk-raw"}, {}, "sk-raw"),  # not Bearer: the header as it is
        ({"authorization": "Basic abc"}, {}, "Basic abc"),
        ({"x-api-key": " ant "}, {}, "ant"),
        ({"x-goog-api-key": "goog"}, {"key": "q"}, "goog"),
        ({"api-key": "azure"}, {}, "azure"),
        ({}, {"key": "q"}, "q"),
        ({"authorization": "Bearer a", "x-api-key": "b"}, {}, "a"),
        ({"x-api-key": ""}, {"key": ""}, None),
        ({}, {}, None),
    ],
)
def test_client_credential(
    headers: dict[str, str], query: dict[str, str], expected: str | None
) -> None:
    assert client_credential(headers, query) == expected


# ---- every protocol's request line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "host", "path", "query", "headers", "expected"),
    [
        (
            "POST",
            "api.openai.com",
            "/v1/chat/completions",
            {},
            {},
            ("openai-chat", "generate", None),
        ),
        ("POST", "api.openai.com", "/chat/completions", {}, {}, ("openai-chat", "generate", None)),
        (
            "POST",
            "api.openai.com",
            "/openai/v1/chat/completions",
            {},
            {},
            ("openai-chat", "generate", None),
        ),
        ("POST", "api.openai.com", "/v1/responses", {}, {}, ("openai-responses", "generate", None)),
        (
            "POST",
            "api.openai.com",
            "/v1/responses/input_tokens",
            {},
            {},
            ("openai-responses", "count_tokens", None),
        ),
        (
            "POST",
            "api.openai.com",
            "/v1/completions",
            {},
            {},
            ("openai-completions", "generate", "completions"),
        ),
        ("GET", "api.openai.com", "/v1/models", {}, {}, ("openai-chat", "models", None)),
        (
            "POST",
            "api.anthropic.com",
            "/v1/messages",
            {"beta": "true"},
            {},
            ("anthropic", "generate", None),
        ),
        (
            "POST",
            "api.anthropic.com",
            "/v1/messages/count_tokens",
            {},
            {},
            ("anthropic", "count_tokens", None),
        ),
        (
            "GET",
            "api.anthropic.com",
            "/v1/models",
            {},
            {"anthropic-version": "2023-06-01"},
            ("anthropic", "models", None),
        ),
        (
            "POST",
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {},
            {},
            ("gemini", "generate", None),
        ),
        (
            "POST",
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {"alt": "sse"},
            {},
            ("gemini", "generate", "sse"),
        ),
        (
            "POST",
            "generativelanguage.googleapis.com",
            "/v1/models/gemini-pro:streamGenerateContent",
            {},
            {},
            ("gemini", "generate", "json-array"),
        ),
        (
            "POST",
            "generativelanguage.googleapis.com",
            "/v1beta/models/g:countTokens",
            {},
            {},
            ("gemini", "count_tokens", None),
        ),
        (
            "GET",
            "generativelanguage.googleapis.com",
            "/v1beta/models",
            {},
            {},
            ("gemini", "models", None),
        ),
        ("POST", "codestral.mistral.ai", "/v1/fim/completions", {}, {}, ("fim", "generate", "fim")),
        (
            "POST",
            "api.mistral.ai",
            "/v1/chat/completions",
            {},
            {},
            ("openai-chat", "generate", None),
        ),
        ("POST", "ollama.test", "/api/chat", {}, {}, ("ollama", "generate", "chat")),
        ("POST", "ollama.test", "/api/generate", {}, {}, ("ollama", "generate", "generate")),
        ("GET", "ollama.test", "/api/tags", {}, {}, ("ollama", "models", None)),
    ],
)
def test_every_protocols_request_line(
    method: str,
    host: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    expected: tuple[str, str, str | None],
) -> None:
    body = b'{"model":"m"}' if method == "POST" else b""
    got = routed(incoming(method, host, path, body, headers, query))
    assert (got.call.protocol, got.call.endpoint, got.call.variant) == expected
    assert got.detected.protocol == got.call.protocol
    assert (got.call.path, dict(got.call.query)) == (path, query)


def test_the_app_side_dialect_follows_the_host() -> None:
    mistral = routed(incoming("POST", "api.mistral.ai", "/v1/chat/completions", b"{}"))
    openai = routed(incoming("POST", "api.openai.com", "/v1/chat/completions", b"{}"))
    assert (mistral.call.dialect, openai.call.dialect) == ("mistral", "openai")
