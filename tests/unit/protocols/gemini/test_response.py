"""Whole answers both ways, and the side endpoints (countTokens, model list)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from crosswire.ir import (
    File,
    Finish,
    Opaque,
    Reasoning,
    ReasoningConfig,
    Report,
    Request,
    Response,
    Text,
    ToolCall,
    UpstreamProtocolError,
    Usage,
)
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, ModelInfo
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.callids import is_synthetic, synthetic_call_id

from .support import whole_call

REQUEST = Request(model="gemini-2.5-flash")


def encode(
    response: Response, request: Request = REQUEST, report: Report | None = None
) -> dict[str, Any]:
    body = CODEC.encode_response(whole_call(), request, response, report or Report())
    types.GenerateContentResponse.model_validate_json(body)
    out: dict[str, Any] = json.loads(body)
    return out


def test_codec_is_registered() -> None:
    assert codec("gemini") is CODEC
    assert CODEC.name == "gemini"


def test_answer_from_another_provider_for_a_gemini_client() -> None:
    response = Response(
        id="msg_01",
        model="claude-sonnet-4-5",
        parts=(
            Reasoning(text="hmm", signature="EqQB", origin="anthropic"),
            Text(text="Calling."),
            ToolCall(id="toolu_01", name="Bash", arguments='{"command": "ls"}'),
        ),
        finish=Finish(reason="tool_calls", raw="tool_use"),
        usage=Usage(input_tokens=100, output_tokens=30, cache_read_tokens=80, reasoning_tokens=10),
    )
    body = encode(response)
    candidate = body["candidates"][0]
    assert candidate["content"]["parts"] == [
        {"text": "Calling."},
        {"functionCall": {"name": "Bash", "args": {"command": "ls"}, "id": "toolu_01"}},
    ]
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"] == {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "cachedContentTokenCount": 80,
        "thoughtsTokenCount": 10,
        "totalTokenCount": 130,
    }
    assert (body["modelVersion"], body["responseId"]) == ("claude-sonnet-4-5", "msg_01")


def test_thoughts_are_shown_when_include_thoughts_was_asked() -> None:
    response = Response(
        id="r", model="m", parts=(Reasoning(text="hmm", origin="openai-responses"), Text(text="x"))
    )
    asked = Request(model="m", reasoning=ReasoningConfig(include_thoughts=True))
    assert encode(response, asked)["candidates"][0]["content"]["parts"][0] == {
        "text": "hmm",
        "thought": True,
    }
    assert encode(response)["candidates"][0]["content"]["parts"] == [{"text": "x"}]


def test_empty_answer_and_files_and_opaque() -> None:
    report = Report()
    response = Response(
        id="r",
        model="m",
        parts=(
            File(kind="image", media_type="image/png", data="iVBORw0KGgo="),
            Opaque(origin="anthropic", data={"type": "web_search_tool_result"}),
        ),
        finish=Finish(reason="length"),
    )
    body = encode(response, report=report)
    assert body["candidates"][0]["content"]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    ]
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert "usageMetadata" not in body
    assert "anthropic block" in report.dropped_fields


def test_gemini_only_fields_survive_gemini_to_gemini() -> None:
    upstream: dict[str, Any] = {
        "candidates": [
            {
                "content": {"parts": [{"text": "cited"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
                "citationMetadata": {"citationSources": [{"uri": "https://example.com"}]},
                "finishMessage": "done",
            }
        ],
        "promptFeedback": {"safetyRatings": []},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
        "createTime": "2026-08-19T14:34:29.467202Z",
    }
    response = CODEC.decode_response(json.dumps(upstream).encode(), Report())
    assert response.created is not None
    body = encode(response)
    assert (
        body["candidates"][0]["citationMetadata"] == upstream["candidates"][0]["citationMetadata"]
    )
    assert body["candidates"][0]["finishMessage"] == "done"
    assert body["promptFeedback"] == {"safetyRatings": []}


def test_decode_response_synthetic_ids_and_several_candidates() -> None:
    report = Report()
    upstream = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "a", "args": {}}}]},
                "finishReason": "STOP",
                "index": 0,
            },
            {"content": {"parts": [{"text": "other"}]}, "finishReason": "STOP", "index": 1},
        ],
        "responseId": "rid",
    }
    response = CODEC.decode_response(json.dumps(upstream).encode(), report)
    (call,) = response.parts
    assert isinstance(call, ToolCall)
    assert call.id == synthetic_call_id("rid", 0) and is_synthetic(call.id)
    assert response.finish == Finish(reason="tool_calls", raw="STOP")
    assert "candidates[1:]" in report.dropped_fields


def test_malformed_function_call_is_an_error_finish() -> None:
    """Edge case 73 in docs/edge-cases.md."""
    upstream = {
        "candidates": [
            {
                "content": {"parts": []},
                "finishReason": "MALFORMED_FUNCTION_CALL",
                "finishMessage": "bad",
            }
        ]
    }
    response = CODEC.decode_response(json.dumps(upstream).encode(), Report())
    assert response.finish == Finish(reason="error", raw="MALFORMED_FUNCTION_CALL")
    assert encode(response)["candidates"][0]["finishReason"] == "MALFORMED_FUNCTION_CALL"


def test_no_candidate_and_no_block_reason_is_an_error() -> None:
    response = CODEC.decode_response(b'{"usageMetadata": {"promptTokenCount": 3}}', Report())
    assert response.finish.reason == "error"
    assert response.usage.input_tokens == 3


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'"a string"',
        b'{"error": {"code": 500, "message": "x"}}',
        b'{"candidates": [{"content": {"parts": [{"functionCall": "x"}]}}]}',
    ],
)
def test_unparsable_answers_raise_upstream_protocol_error(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        CODEC.decode_response(body, Report())


def test_count_tokens_answer() -> None:
    call = ClientCall(protocol="gemini", endpoint="count_tokens", model="gemini-2.5-flash")
    assert json.loads(CODEC.encode_count_tokens(call, 42)) == {"totalTokens": 42}
    types.CountTokensResponse.model_validate_json(CODEC.encode_count_tokens(call, 42))


def test_model_list() -> None:
    """Edge case 89: ``{models:[{name:"models/x", supportedGenerationMethods…}]}``."""
    call = ClientCall(protocol="gemini", endpoint="models", method="GET")
    body = json.loads(
        CODEC.encode_models(
            call,
            [ModelInfo(id="claude-sonnet-4-5"), ModelInfo(id="models/gemini-x", display_name="X")],
        )
    )
    assert body["models"][0] == {
        "name": "models/claude-sonnet-4-5",
        "displayName": "claude-sonnet-4-5",
        "description": "served through crosswire (crosswire)",
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }
    assert body["models"][1]["name"] == "models/gemini-x"
    assert body["models"][1]["displayName"] == "X"
