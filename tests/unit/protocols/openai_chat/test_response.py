"""Whole chat completions, both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from crosswire import ir
from tests.unit.protocols.openai_chat.support import CALL, C

REQUEST = ir.Request(model="app-model")
AUDIO = {"id": "a1", "data": "UklGRg==", "expires_at": 1, "transcript": "hi"}


def _decode(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> ir.Response:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish, **extra.pop("choice", {})}
        ],
        **extra,
    }
    return C.decode_response(json.dumps(body).encode(), ir.Report())


def _encode(response: ir.Response, report: ir.Report | None = None) -> dict[str, Any]:
    raw = C.encode_response(CALL, REQUEST, response, report or ir.Report())
    ChatCompletion.model_validate_json(raw)
    data: dict[str, Any] = json.loads(raw)
    return data


def test_reasoning_content_and_openrouter_reasoning_decode_as_reasoning() -> None:
    """EDGE 67 in docs/edge-cases.md: reasoning never leaks into content."""
    for key in ("reasoning_content", "reasoning"):
        response = _decode({"role": "assistant", "content": "a", key: "think"})
        assert response.parts == (
            ir.Reasoning(text="think", origin="openai-chat"),
            ir.Text(text="a"),
        )


def test_mistral_thinking_chunks_decode_as_reasoning_then_text() -> None:
    response = _decode(
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "t"}], "closed": True},
                {"type": "text", "text": "154"},
            ],
        }
    )
    assert response.parts == (ir.Reasoning(text="t", origin="openai-chat"), ir.Text(text="154"))


def test_refusal_annotations_and_images() -> None:
    annotation = {
        "type": "url_citation",
        "url_citation": {"url": "https://x", "title": "x", "start_index": 0, "end_index": 3},
    }
    response = _decode(
        {
            "role": "assistant",
            "content": "see",
            "refusal": None,
            "annotations": [annotation],
            "images": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}],
        }
    )
    assert response.parts == (
        ir.Text(text="see", native={"openai-chat": {"annotations": [annotation]}}),
        ir.File(kind="image", media_type="image/png", data="iVBO"),
    )
    refused = _decode({"role": "assistant", "content": None, "refusal": "no"})
    assert refused.parts == (ir.Text(text="no", native={"openai-chat": {"refusal": True}}),)
    out = _encode(refused)["choices"][0]["message"]
    assert out["content"] == "" and out["refusal"] == "no"
    again = _encode(response)["choices"][0]["message"]
    assert again["annotations"] == [annotation] and again["images"][0]["image_url"][
        "url"
    ].startswith("data:image/png")


def test_tool_calls_win_over_stop_and_ids_are_derived_when_missing() -> None:
    """EDGE 18, 23: a call means finish tool_calls even when the server says stop."""
    response = _decode(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}},
            ],
        },
        "stop",
    )
    first, second = response.parts
    assert (
        isinstance(first, ir.ToolCall)
        and first.id.startswith("call_")
        and first.arguments == '{"a": 1}'
    )
    assert second == ir.ToolCall(id="c2", name="g", arguments="")
    assert response.finish == ir.Finish(reason="tool_calls", raw="stop")


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (
            {"stop_reason": "###"},
            ir.Finish(reason="stop_sequence", raw="stop", stop_sequence="###"),
        ),
        (
            {"matched_stop": "END"},
            ir.Finish(reason="stop_sequence", raw="stop", stop_sequence="END"),
        ),
        ({"stop_reason": 128009}, ir.Finish(reason="stop", raw="stop")),
    ],
)
def test_vllm_and_sglang_recover_the_stop_sequence(
    choice: dict[str, Any], expected: ir.Finish
) -> None:
    """EDGE 75."""
    assert _decode({"role": "assistant", "content": "x"}, "stop", choice=choice).finish == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("weird", "stop"),
    ],
)
def test_finish_reasons_in(raw: str, reason: str) -> None:
    """EDGE 72."""
    assert _decode({"role": "assistant", "content": "x"}, raw).finish.reason == reason


def test_empty_choices_are_not_a_clean_stop() -> None:
    """EDGE 9, 73."""
    body = b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}'
    response = C.decode_response(body, ir.Report())
    assert response.parts == () and response.finish.reason == "error"


def test_only_the_first_choice_is_converted_with_a_note() -> None:
    report = ir.Report()
    body = {
        "id": "x",
        "model": "m",
        "choices": [
            {"index": 1, "message": {"content": "b"}, "finish_reason": "stop"},
            {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
        ],
    }
    response = C.decode_response(json.dumps(body).encode(), report)
    assert response.parts == (ir.Text(text="a"),) and "choices[1:]" in report.dropped_fields


def test_usage_details_both_directions() -> None:
    """EDGE 76, 77: cached tokens are part of prompt_tokens, reasoning part of completion."""
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    response = _decode({"role": "assistant", "content": "x"}, usage=usage)
    assert response.usage == ir.Usage(
        input_tokens=100, output_tokens=40, cache_read_tokens=60, reasoning_tokens=30
    )
    assert _encode(response)["usage"] == usage
    deepseek = _decode(
        {"role": "assistant", "content": "x"},
        usage={"prompt_tokens": 10, "completion_tokens": 1, "prompt_cache_hit_tokens": 4},
    )
    assert deepseek.usage.cache_read_tokens == 4


def test_encoded_answer_has_null_content_with_calls_and_tool_calls_finish() -> None:
    """EDGE 22, 49: content null beside tool calls; arguments "" become "{}"."""
    response = ir.Response(
        id="msg_1",
        model="claude",
        parts=(ir.ToolCall(id="toolu_1", name="f", arguments=""),),
        finish=ir.Finish(reason="stop"),
        usage=ir.Usage(input_tokens=3, output_tokens=2),
    )
    body = _encode(response)
    assert body["id"] == "chatcmpl-msg_1" and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["content"] is None and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        ("stop_sequence", "stop"),
        ("pause", "length"),
        ("refusal", "content_filter"),
        ("error", "stop"),
        ("length", "length"),
    ],
)
def test_finish_reasons_out_stay_in_the_sdk_enum(reason: ir.FinishReason, wire: str) -> None:
    """EDGE 74."""
    response = ir.Response(
        id="x", model="m", parts=(ir.Text(text="a"),), finish=ir.Finish(reason=reason)
    )
    assert _encode(response)["choices"][0]["finish_reason"] == wire


def test_signed_reasoning_rides_the_thinking_blocks_carrier() -> None:
    """EDGE 61, 63: reasoning_content shows the text; thinking_blocks keep what only the origin
    can verify, so a client echoing the message brings it home."""
    response = ir.Response(
        id="x",
        model="m",
        parts=(
            ir.Reasoning(text="t", signature="SIG", origin="anthropic"),
            ir.Reasoning(redacted="OPAQUE", origin="anthropic"),
            ir.Text(text="a"),
        ),
    )
    message = _encode(response)["choices"][0]["message"]
    assert message["reasoning_content"] == "t"
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "t", "signature": "SIG", "provider": "anthropic"},
        {"type": "redacted_thinking", "data": "OPAQUE", "provider": "anthropic"},
    ]
    echoed = C.decode_request(
        CALL, json.dumps({"messages": [{"role": "assistant", **message}]}).encode(), ir.Report()
    )
    assert echoed.messages[0].parts == response.parts


def test_unsigned_reasoning_has_no_carrier() -> None:
    response = ir.Response(id="x", model="m", parts=(ir.Reasoning(text="t", origin="gemini"),))
    message = _encode(response)["choices"][0]["message"]
    assert message["reasoning_content"] == "t" and "thinking_blocks" not in message


def test_parts_without_a_place_are_dropped_with_a_note() -> None:
    report = ir.Report()
    response = ir.Response(
        id="x",
        model="",
        parts=(
            ir.Opaque(origin="anthropic", data={"type": "web_search_tool_result"}),
            ir.Text(text="a"),
        ),
    )
    body = _encode(response, report)
    assert body["model"] == "app-model" and "web_search_tool_result" in report.dropped_fields


def test_same_protocol_extras_come_back() -> None:
    """Fields the IR does not model (system_fingerprint, service_tier, message audio) return
    to an OpenAI client behind an OpenAI-compatible backend."""
    response = _decode(
        {"role": "assistant", "content": "x", "audio": AUDIO},
        system_fingerprint="fp_1",
        service_tier="default",
    )
    body = _encode(response)
    assert body["system_fingerprint"] == "fp_1" and body["service_tier"] == "default"
    assert body["choices"][0]["message"]["audio"] == AUDIO


def test_custom_tool_calls_round_trip() -> None:
    response = _decode(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "custom", "custom": {"name": "patch", "input": "*** diff"}}
            ],
        },
        "tool_calls",
    )
    assert response.parts == (
        ir.ToolCall(
            id="c", name="patch", arguments="*** diff", native={"openai-chat": {"type": "custom"}}
        ),
    )
    out = json.loads(C.encode_response(CALL, REQUEST, response, ir.Report()))
    assert out["choices"][0]["message"]["tool_calls"] == [
        {"id": "c", "type": "custom", "custom": {"name": "patch", "input": "*** diff"}}
    ]


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"error":{"message":"boom"}}'])
def test_unparsable_answers_are_upstream_protocol_errors(body: bytes) -> None:
    with pytest.raises(ir.UpstreamProtocolError):
        C.decode_response(body, ir.Report())


def test_lone_surrogates_from_upstream_become_replacement_characters() -> None:
    response = C.decode_response(
        b'{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"a\\ud800b"},'
        b'"finish_reason":"stop"}]}',
        ir.Report(),
    )
    assert _encode(response)["choices"][0]["message"]["content"] == "a\ufffdb"
