"""OpenAI's request hints (verbosity, prompt cache key and retention, safety identifier, service
tier, max_tool_calls) are IR fields: Chat ⇄ Responses map them both ways, Mistral gets the two
it knows, and any other backend reports them dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target

CHAT = codec("openai-chat")
RESPONSES = codec("openai-responses")
HINTS = {
    "prompt_cache_key": "session-1",
    "prompt_cache_retention": "24h",
    "safety_identifier": "user-hash",
    "service_tier": "flex",
}


def _convert(
    client: str, backend: str, body: dict[str, Any], dialect: str = "openai"
) -> tuple[dict[str, Any], ir.Report]:
    ex = Exchange(
        call=ClientCall(protocol=client, endpoint="generate"),  # type: ignore[arg-type]
        client=codec(client),  # type: ignore[arg-type]
        backend=codec(backend),  # type: ignore[arg-type]
        target=Target(protocol=backend, model="m", dialect=dialect),  # type: ignore[arg-type]
    )
    ex.decode(json.dumps(body).encode())
    sent: dict[str, Any] = json.loads(ex.encode().body)
    return sent, ex.report


def test_chat_hints_reach_a_responses_backend() -> None:
    sent, report = _convert(
        "openai-chat",
        "openai-responses",
        {"model": "m", "messages": [{"role": "user", "content": "q"}], "verbosity": "low", **HINTS},
    )
    assert sent["text"] == {"verbosity": "low"}
    assert {k: sent[k] for k in HINTS} == HINTS
    assert "user" not in sent  # safety_identifier alone is not repeated as user
    assert report.dropped_fields == []


def test_responses_hints_reach_a_chat_backend() -> None:
    body = {
        "model": "m",
        "input": "q",
        "text": {"verbosity": "high"},
        "max_tool_calls": 3,
        **HINTS,
    }
    sent, report = _convert("openai-responses", "openai-chat", body)
    assert sent["verbosity"] == "high"
    assert {k: sent[k] for k in HINTS} == HINTS
    assert report.dropped_fields == ["max_tool_calls"]  # Chat has no such limit


def test_responses_to_responses_keeps_every_hint() -> None:
    body = {"model": "m", "input": "q", "text": {"verbosity": "low"}, "max_tool_calls": 2, **HINTS}
    sent, report = _convert("openai-responses", "openai-responses", body)
    assert sent["text"] == {"verbosity": "low"} and sent["max_tool_calls"] == 2
    assert {k: sent[k] for k in HINTS} == HINTS
    assert report.dropped_fields == []


def test_user_and_safety_identifier_both_travel_when_they_differ() -> None:
    sent, _ = _convert(
        "openai-chat",
        "openai-responses",
        {"model": "m", "messages": [{"role": "user", "content": "q"}], "user": "u", **HINTS},
    )
    assert (sent["user"], sent["safety_identifier"]) == ("u", "user-hash")


def test_mistral_gets_the_cache_key_and_its_own_tiers_only() -> None:
    body = {"model": "m", "input": "q", "text": {"verbosity": "low"}, **HINTS}
    sent, report = _convert("openai-responses", "openai-chat", body, dialect="mistral")
    assert sent["prompt_cache_key"] == "session-1"
    assert "service_tier" not in sent  # flex is not a Mistral tier
    assert set(report.dropped_fields) >= {
        "verbosity",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
    }
    auto = {**body, "service_tier": "auto"}
    assert _convert("openai-responses", "openai-chat", auto, "mistral")[0]["service_tier"] == "auto"


def test_another_familys_tier_is_dropped_for_openai() -> None:
    sent, report = _convert(
        "openai-chat",
        "openai-responses",
        {"model": "m", "messages": [{"role": "user", "content": "q"}], "service_tier": "x"},
    )
    assert "service_tier" not in sent and report.dropped_fields == ["service_tier"]


@pytest.mark.parametrize("backend", ["anthropic", "gemini", "ollama"])
def test_other_backends_report_each_hint_dropped(backend: str) -> None:
    body = {"model": "m", "input": "q", "text": {"verbosity": "low"}, "max_tool_calls": 1}
    _, report = _convert("openai-responses", backend, {**body, **HINTS})
    assert set(report.dropped_fields) >= {*HINTS, "verbosity", "max_tool_calls"}
