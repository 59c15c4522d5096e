"""Every current request field of OpenAI Chat (openai 3.54) and Mistral chat (mistralai 3.7):
decoded without error, passed through unchanged to the same server, dropped with a note where
the server would refuse it — and every encoded body checked key by key against the SDK's
request TypedDicts (an unknown key anywhere fails)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mistralai.client.models import chatcompletionrequest as mistral_params
from openai.types.chat import completion_create_params as openai_params

from crosswire import ir
from crosswire.protocols.base import ClientCall
from tests.unit.protocols.openai_chat.strict_typeddict import assert_fits, problems
from tests.unit.protocols.openai_chat.support import FILES, C, encode_request, load

MISTRAL_CALL = ClientCall(protocol="openai-chat", endpoint="generate", dialect="mistral")
OPENAI_CALL = ClientCall(protocol="openai-chat", endpoint="generate")

MESSAGES = [
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "q"}]},
]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]

#: Fields OpenAI added to Chat Completions in 2025–2026, with valid values.
OPENAI_NEW = {
    "verbosity": "low",
    "prompt_cache_key": "user-42",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    "safety_identifier": "hash-1",
    "service_tier": "flex",
    "store": True,
    "metadata": {"k": "v"},
    "moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}},
    "web_search_options": {"search_context_size": "low"},
    "modalities": ["text"],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "prediction": {"type": "content", "content": "x = 1"},
}

#: Mistral-only fields (mistralai 3.7 ``ChatCompletionRequest``), with valid values.
MISTRAL_ONLY = {
    "safe_prompt": True,
    "prompt_mode": "reasoning",
    "guardrails": [{"block_on_error": True}],
    "repetition_penalty": 1.1,
    "prompt_logprobs": True,
    "top_prompt_logprobs": 2,
}
#: Fields both Mistral and OpenAI know, as a Mistral app sends them.
MISTRAL_SHARED = {
    "prediction": {"type": "content", "content": "x = 1"},
    "prompt_cache_key": "user-42",
    "metadata": {"k": "v"},
    "logprobs": True,
    "top_logprobs": 2,
    "parallel_tool_calls": False,
}


def _decode(body: dict[str, Any], call: ClientCall = OPENAI_CALL) -> ir.Request:
    report = ir.Report()
    request = C.decode_request(call, json.dumps(body).encode(), report)
    assert not report.notes
    return request


def _openai_type(body: dict[str, Any]) -> Any:
    if body.get("stream"):
        return openai_params.CompletionCreateParamsStreaming
    return openai_params.CompletionCreateParamsNonStreaming


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_reasoning_effort_decodes_and_reaches_openai_unchanged(effort: str) -> None:
    request = _decode({"model": "m", "messages": MESSAGES, "reasoning_effort": effort})
    assert request.reasoning is not None and request.reasoning.effort == effort
    assert request.reasoning.enabled is (effort != "none")
    assert encode_request(request)["reasoning_effort"] == effort


def test_new_openai_fields_pass_through_unchanged_and_fit_the_sdk_types() -> None:
    body = {"model": "m", "messages": MESSAGES, "tools": TOOLS, **OPENAI_NEW}
    report = ir.Report()
    out = encode_request(_decode(body), "openai", report)
    for key, value in OPENAI_NEW.items():
        assert out[key] == value, key
    assert not report.dropped_fields
    assert_fits(out, _openai_type(out))


def test_new_openai_fields_are_dropped_with_a_note_for_mistral() -> None:
    report = ir.Report()
    out = encode_request(
        _decode({"model": "m", "messages": MESSAGES, **OPENAI_NEW}), "mistral", report
    )
    unknown = {"verbosity", "prompt_cache_retention", "prompt_cache_options", "safety_identifier"}
    unknown |= {"store", "moderation", "web_search_options", "modalities", "logit_bias"}
    unknown |= {"service_tier"}  # "flex" is not a Mistral tier
    assert unknown <= set(report.dropped_fields)
    assert not unknown & set(out)
    assert_fits(out, mistral_params.ChatCompletionRequestTypedDict)


def test_unknown_fields_never_reach_openai() -> None:
    report = ir.Report()
    out = encode_request(
        _decode({"model": "m", "messages": MESSAGES, "enable_thinking": True}), "openai", report
    )
    assert "enable_thinking" not in out and "enable_thinking" in report.dropped_fields
    assert encode_request(_decode({"model": "m", "messages": MESSAGES, "x": 1}), "vllm")["x"] == 1


def test_mistral_fields_are_never_refused_and_reach_mistral_unchanged() -> None:
    body = {
        "model": "m",
        "messages": [
            *MESSAGES[1:],
            {"role": "assistant", "content": "Sure:", "prefix": True},
        ],
        "tools": TOOLS,
        "random_seed": 7,
        "min_tokens": 3,
        "top_k": 20,
        "service_tier": "standard_only",
        **MISTRAL_ONLY,
        **MISTRAL_SHARED,
    }
    request = _decode(body, MISTRAL_CALL)
    assert request.params.seed == 7 and request.params.min_tokens == 3
    report = ir.Report()
    out = encode_request(request, "mistral", report)
    for key, value in {**MISTRAL_ONLY, **MISTRAL_SHARED, "service_tier": "standard_only"}.items():
        assert out[key] == value, key
    assert out["random_seed"] == 7 and out["min_tokens"] == 3 and out["top_k"] == 20
    assert out["messages"][-1]["prefix"] is True
    assert not report.dropped_fields
    assert_fits(out, mistral_params.ChatCompletionRequestTypedDict)


def test_mistral_only_fields_are_dropped_with_a_note_for_openai() -> None:
    body = {
        "model": "m",
        "messages": [*MESSAGES[1:], {"role": "assistant", "content": "Sure:", "prefix": True}],
        "tools": [*TOOLS, {"type": "document_library", "library_ids": ["lib"]}],
        "random_seed": 7,
        "service_tier": "standard_only",
        **MISTRAL_ONLY,
        **MISTRAL_SHARED,
    }
    report = ir.Report()
    out = encode_request(_decode(body, MISTRAL_CALL), "openai", report)
    assert out["seed"] == 7
    assert set(MISTRAL_ONLY) | {"service_tier", "messages[].prefix", "tool document_library"} <= (
        set(report.dropped_fields)
    )
    for key, value in MISTRAL_SHARED.items():
        assert out[key] == value, key
    assert_fits(out, _openai_type(out))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recorded_request_fits_both_sdks_after_encoding(path: Path) -> None:
    record = load(path)
    call = MISTRAL_CALL if path.parent.name == "mistral" else OPENAI_CALL
    request = C.decode_request(call, json.dumps(record["request"]["body"]).encode(), ir.Report())
    openai_body = encode_request(request, "openai")
    assert_fits(openai_body, _openai_type(openai_body))
    mistral_body = encode_request(request, "mistral")
    found = problems(mistral_body, mistral_params.ChatCompletionRequestTypedDict)
    assert not found, found[:5]
