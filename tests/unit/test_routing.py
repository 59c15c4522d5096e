from __future__ import annotations

import pytest

from crosswire import config
from crosswire.routing import Router, detect


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("POST", "/v1/chat/completions", {}, {}, ("openai-chat", "generate", None)),
        ("POST", "/v1/responses", {}, {}, ("openai-responses", "generate", None)),
        ("POST", "/v1/messages", {"beta": "true"}, {}, ("anthropic", "generate", None)),
        ("POST", "/v1/messages/count_tokens", {}, {}, ("anthropic", "count_tokens", None)),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {"alt": "sse"},
            {},
            ("gemini", "generate", "sse"),
        ),
        (
            "POST",
            "/v1/models/gemini-pro:streamGenerateContent",
            {},
            {},
            ("gemini", "generate", "json-array"),
        ),
        ("POST", "/v1beta/models/g:countTokens", {}, {}, ("gemini", "count_tokens", None)),
        (
            "POST",
            "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            {"alt": "sse"},
            {},
            ("gemini", "generate", "sse"),
        ),
        ("POST", "/v1/fim/completions", {}, {}, ("fim", "generate", "fim")),
        ("POST", "/v1/completions", {}, {}, ("openai-completions", "generate", "completions")),
        ("POST", "/api/chat", {}, {}, ("ollama", "generate", "chat")),
        ("POST", "/api/generate", {}, {}, ("ollama", "generate", "generate")),
        (
            "GET",
            "/v1/models",
            {},
            {"anthropic-version": "2023-06-01"},
            ("anthropic", "models", None),
        ),
        ("GET", "/v1/models", {}, {}, ("openai-chat", "models", None)),
        ("GET", "/api/tags", {}, {}, ("ollama", "models", None)),
    ],
)
def test_detects_protocol_and_endpoint_from_the_request_line(
    method, path, query, headers, expected
) -> None:
    d = detect(method, path, query, headers)
    assert d is not None
    assert (d.protocol, d.endpoint, d.variant) == expected


def test_unknown_paths_are_none() -> None:
    assert detect("POST", "/v1/embeddings", {}, {}) is None
    assert detect("GET", "/v1/chat/completions", {}, {}) is None


def test_gemini_model_and_stream_come_from_the_path() -> None:
    d = detect("POST", "/v1beta/models/gemini-2.5-pro:generateContent", {}, {})
    assert d is not None and d.model == "gemini-2.5-pro" and d.stream is False


CFG = """
backends:
  a: {protocol: anthropic, base_url: http://a}
  b: {protocol: openai-chat, base_url: http://b/v1}
routes:
  - match: {host: api.openai.com, model: "gpt-4*"}
    backend: a
    model: claude-x
  - match: {host: "*.openai.azure.com"}
    backend: b
  - match: {host: api.openai.com}
    backend: [b, a]
"""


def test_first_match_wins_with_globs() -> None:
    router = Router(config.parse(CFG, env={}))
    assert (
        router.match("api.openai.com", "/v1/chat/completions", "gpt-4o", "openai-chat").index == 0
    )  # type: ignore[union-attr]
    r = router.match("api.openai.com", "/v1/chat/completions", "o3", "openai-chat")
    assert r is not None and r.index == 2 and [b.name for b in r.backends] == ["b", "a"]
    assert router.match("x.openai.azure.com", "/", None, "openai-chat").index == 1  # type: ignore[union-attr]
    assert router.match("example.com", "/", None, "openai-chat") is None
    assert router.models() == ["claude-x"]


def test_remembered_answers_are_the_same_answers_and_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Matches are remembered per (host, path, model, protocol) for one config: asked again,
    the same route (or none); past the bound the memo starts over instead of growing."""
    import crosswire.routing as routing

    monkeypatch.setattr(routing, "_MEMO_MAX", 8)
    router = Router(config.parse(CFG, env={}))
    asks = [
        ("api.openai.com", "/v1/chat/completions", f"model-{i}", "openai-chat") for i in range(20)
    ] + [("example.com", "/", None, "openai-chat"), ("API.OPENAI.COM", "/", "o3", "openai-chat")]
    first = [router.match(*a) for a in asks]
    again = [router.match(*a) for a in asks]
    assert [r and r.index for r in first] == [r and r.index for r in again]
    assert first[-2] is None and first[-1] is not None and first[-1].index == 2
    assert len(router._matched) <= 8
    assert [router.routes_host(h) for h in ("api.openai.com", "example.com") * 10] == [
        True,
        False,
    ] * 10
    assert len(router._hosts_seen) <= 8


def test_allow_hosts_patterns_cover_only_routed_hosts() -> None:
    import re

    patterns = Router(config.parse(CFG, env={})).allow_hosts_patterns()

    def allowed(h: str) -> bool:
        return any(re.search(p, h) for p in patterns)

    assert (
        allowed("api.openai.com")
        and allowed("api.openai.com:443")
        and allowed("east.openai.azure.com")
    )
    assert not allowed("example.com") and not allowed("api.openai.com.evil.net")
