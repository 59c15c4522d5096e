from __future__ import annotations

from crosswire import upstream
from crosswire.engine.intake import client_credential
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName


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
    assert client_credential({"authorization": "Bearer sk-1"}, {}) == "sk-1"
    assert client_credential({"x-api-key": "a"}, {}) == "a"
    assert client_credential({"x-goog-api-key": "g"}, {}) == "g"
    assert client_credential({}, {"key": "q"}) == "q"
    assert client_credential({}, {}) is None


def test_credential_header_per_protocol() -> None:
    def auth(protocol: ProtocolName, dialect: str, secret: str) -> tuple[str, str]:
        return codec(protocol).wire.credential(secret, dialect)

    assert auth("anthropic", "openai", "s") == ("x-api-key", "s")
    assert auth("gemini", "openai", "s") == ("x-goog-api-key", "s")
    assert auth("openai-chat", "azure", "s") == ("api-key", "s")
    assert auth("ollama", "openai", "s") == ("authorization", "Bearer s")
