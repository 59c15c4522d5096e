from __future__ import annotations

from crosswire import upstream


def test_passthrough_path_maps_the_sdk_base() -> None:
    assert (
        upstream.passthrough_path("openai-chat", "/v1/chat/completions", "http://h:8000/v1")
        == "http://h:8000/v1/chat/completions"
    )
    assert (
        upstream.passthrough_path(
            "openai-chat", "/v1/chat/completions", "https://api.groq.com/openai/v1"
        )
        == "https://api.groq.com/openai/v1/chat/completions"
    )
    assert (
        upstream.passthrough_path("openai-chat", "/v1/chat/completions", "https://api.deepseek.com")
        == "https://api.deepseek.com/chat/completions"
    )
    assert (
        upstream.passthrough_path("anthropic", "/v1/messages", "http://h") == "http://h/v1/messages"
    )
    assert (
        upstream.passthrough_path("gemini", "/v1beta/models/x:generateContent", "http://h")
        == "http://h/v1beta/models/x:generateContent"
    )


def test_client_credential_from_every_place() -> None:
    assert upstream.client_credential({"authorization": "Bearer sk-1"}, {}) == "sk-1"
    assert upstream.client_credential({"x-api-key": "a"}, {}) == "a"
    assert upstream.client_credential({"x-goog-api-key": "g"}, {}) == "g"
    assert upstream.client_credential({}, {"key": "q"}) == "q"
    assert upstream.client_credential({}, {}) is None


def test_auth_header_per_protocol() -> None:
    assert upstream.auth_header("anthropic", "openai", "s") == ("x-api-key", "s")
    assert upstream.auth_header("gemini", "openai", "s") == ("x-goog-api-key", "s")
    assert upstream.auth_header("openai-chat", "azure", "s") == ("api-key", "s")
    assert upstream.auth_header("ollama", "openai", "s") == ("authorization", "Bearer s")
