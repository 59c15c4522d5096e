"""Whole Responses objects ⇄ IR (edges 26, 61, 70, 72, 76), side endpoints and error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response
from openai.types.responses.input_token_count_response import InputTokenCountResponse

from crosswire import ir
from crosswire.protocols.base import ModelInfo
from crosswire.protocols.openai_responses.items import reasoning_parts
from tests.unit.protocols.openai_responses.support import CALL, C, decode

REQUEST = ir.Request(model="app-model")


def _decode(body: dict[str, Any]) -> ir.Response:
    return C.decode_response(json.dumps(body).encode(), ir.Report())


def _encode(response: ir.Response, report: ir.Report | None = None) -> dict[str, Any]:
    body = C.encode_response(CALL, REQUEST, response, report or ir.Report())
    Response.model_validate_json(body)  # the SDK accepts every answer
    out: dict[str, Any] = json.loads(body)
    return out


def test_usage_keeps_cached_and_reasoning_tokens_inside_the_totals() -> None:
    """Edge 76: Responses already counts like the IR (cached ⊂ input, reasoning ⊂ output)."""
    response = _decode(
        {
            "id": "resp_1",
            "model": "gpt-5",
            "status": "completed",
            "output": [],
            "usage": {
                "input_tokens": 100,
                "input_tokens_details": {"cached_tokens": 80},
                "output_tokens": 50,
                "output_tokens_details": {"reasoning_tokens": 30},
                "total_tokens": 150,
            },
        }
    )
    assert response.usage == ir.Usage(
        input_tokens=100, output_tokens=50, cache_read_tokens=80, reasoning_tokens=30
    )
    usage = _encode(response)["usage"]
    assert usage == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 80, "cache_write_tokens": 0},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 30},
        "total_tokens": 150,
    }


@pytest.mark.parametrize(
    ("status", "details", "reason"),
    [
        ("completed", None, "stop"),
        ("incomplete", {"reason": "max_output_tokens"}, "length"),
        ("incomplete", {"reason": "content_filter"}, "content_filter"),
        ("failed", None, "error"),
    ],
)
def test_status_maps_to_a_finish_reason(status: str, details: Any, reason: str) -> None:
    """Edge 72: the token limit and safety rows for Responses."""
    body = {"id": "r", "model": "m", "status": status, "incomplete_details": details, "output": []}
    assert _decode(body).finish.reason == reason


def test_a_function_call_makes_the_finish_tool_calls() -> None:
    response = _decode(
        {
            "id": "r",
            "model": "m",
            "status": "completed",
            "output": [
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "f",
                    "arguments": "{}",
                }
            ],
        }
    )
    assert response.finish.reason == "tool_calls"
    assert response.parts == (
        ir.ToolCall(
            id="call_1", name="f", arguments="{}", native={"openai-responses": {"id": "fc_1"}}
        ),
    )


def test_unknown_output_items_stay_opaque() -> None:
    item = {"type": "image_generation_call", "id": "ig_1", "result": "..."}
    response = _decode({"id": "r", "model": "m", "status": "completed", "output": [item]})
    assert response.parts == (ir.Opaque(origin="openai-responses", data=item),)


def test_answer_items_get_prefixed_ids_and_call_ids_stay_distinct() -> None:
    """Edge 26: the ``fc_`` item id is not the ``call_id``."""
    body = _encode(
        ir.Response(
            id="chatcmpl-1",
            model="m",
            parts=(
                ir.Text(text="a"),
                ir.Text(text="b"),
                ir.ToolCall(id="toolu_1", name="f", arguments=""),
            ),
            finish=ir.Finish(reason="tool_calls"),
        )
    )
    assert body["id"].startswith("resp_") and body["status"] == "completed"
    message, call = body["output"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    assert [c["text"] for c in message["content"]] == ["a", "b"]
    assert all(c["annotations"] == [] for c in message["content"])
    assert call["id"].startswith("fc_") and call["call_id"] == "toolu_1"
    assert call["arguments"] == "{}"


def test_own_reasoning_comes_back_as_one_item_with_its_encrypted_content() -> None:
    """Edge 70: summary + encrypted_content in one reasoning item."""
    native = {"openai-responses": {"id": "rs_9"}}
    body = _encode(
        ir.Response(
            id="resp_1",
            model="m",
            parts=(
                ir.Reasoning(text="plan", origin="openai-responses", native=native),
                ir.Reasoning(redacted="gAAA", origin="openai-responses", native=native),
                ir.Text(text="done"),
            ),
        )
    )
    assert body["output"][0] == {
        "type": "reasoning",
        "id": "rs_9",
        "summary": [{"type": "summary_text", "text": "plan"}],
        "encrypted_content": "gAAA",
    }


def test_other_providers_signed_reasoning_travels_in_an_envelope_and_comes_home() -> None:
    """Edge 61: an Anthropic thinking block's signature survives a Responses client."""
    body = _encode(
        ir.Response(
            id="msg_1",
            model="claude",
            parts=(
                ir.Reasoning(text="hmm", signature="SIG", origin="anthropic"),
                ir.Reasoning(redacted="OPAQUE", origin="anthropic"),
                ir.Reasoning(text="unsigned", origin="gemini"),
                ir.Text(text="answer"),
            ),
        )
    )
    signed, redacted, unsigned, _ = body["output"]
    assert signed["summary"] == [{"type": "summary_text", "text": "hmm"}]
    assert signed["encrypted_content"].startswith("crosswire.reasoning.v1.")
    assert "encrypted_content" not in unsigned
    echoed = (
        decode({"model": "m", "input": [{"role": "user", "content": "q"}, *body["output"]]})
        .messages[1]
        .parts
    )
    assert echoed[0] == ir.Reasoning(
        text="hmm",
        signature="SIG",
        origin="anthropic",
        native={"openai-responses": {"id": signed["id"]}},
    )
    assert echoed[1] == ir.Reasoning(
        redacted="OPAQUE", origin="anthropic", native={"openai-responses": {"id": redacted["id"]}}
    )


def test_a_damaged_envelope_loses_its_state_with_a_note() -> None:
    report = ir.Report()
    parts = reasoning_parts(
        {
            "type": "reasoning",
            "id": "rs",
            "summary": [],
            "encrypted_content": "crosswire.reasoning.v1.!!",
        },
        report,
    )
    assert parts == [
        ir.Reasoning(origin="openai-responses", native={"openai-responses": {"id": "rs"}})
    ]
    assert report.dropped_fields == ["reasoning.encrypted_content"]


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        (ir.Finish(reason="length"), "incomplete", "max_output_tokens"),
        (ir.Finish(reason="content_filter"), "incomplete", "content_filter"),
        (ir.Finish(reason="pause"), "incomplete", "max_output_tokens"),
        (ir.Finish(reason="stop_sequence"), "completed", None),
    ],
)
def test_finish_becomes_status_and_incomplete_details(
    finish: ir.Finish, status: str, reason: str | None
) -> None:
    """Edge 72: length → incomplete (max_output_tokens), content_filter → incomplete."""
    body = _encode(ir.Response(id="r", model="m", parts=(ir.Text(text="x"),), finish=finish))
    assert body["status"] == status
    assert body["incomplete_details"] == ({"reason": reason} if reason else None)


def test_a_malformed_call_finish_is_a_failed_response() -> None:
    body = _encode(
        ir.Response(
            id="r", model="m", finish=ir.Finish(reason="error", raw="MALFORMED_FUNCTION_CALL")
        )
    )
    assert body["status"] == "failed" and "MALFORMED_FUNCTION_CALL" in body["error"]["message"]


def test_parts_a_response_cannot_carry_are_dropped_with_notes() -> None:
    report = ir.Report()
    body = _encode(
        ir.Response(
            id="r",
            model="m",
            parts=(
                ir.Opaque(origin="anthropic", data={"type": "server_tool_use"}),
                ir.File(kind="image", data="iVBOR", media_type="image/png"),
                ir.Text(text="x"),
            ),
        ),
        report,
    )
    assert [i["type"] for i in body["output"]] == ["message"]
    assert set(report.dropped_fields) == {"server_tool_use", "image output"}


def test_refusals_and_phases_survive_a_round_trip() -> None:
    item = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "phase": "final_answer",
        "content": [
            {"type": "output_text", "text": "partly", "annotations": []},
            {"type": "refusal", "refusal": "no"},
        ],
    }
    response = _decode({"id": "resp_1", "model": "m", "status": "completed", "output": [item]})
    assert _encode(response)["output"] == [item]


def test_count_tokens_answer_is_the_sdk_shape() -> None:
    """Edge 88: ``POST /v1/responses/input_tokens``."""
    body = C.encode_count_tokens(CALL, 42)
    parsed = InputTokenCountResponse.model_validate_json(body)
    assert parsed.input_tokens == 42 and parsed.object == "response.input_tokens"


def test_models_list_is_the_openai_shape() -> None:
    body = json.loads(C.encode_models(CALL, [ModelInfo(id="a")]))
    assert body["object"] == "list" and body["data"][0]["id"] == "a"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (
            429,
            b'{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}',
            {},
            "quota_exhausted",
        ),
        (
            429,
            b'{"error":{"message":"slow","type":"requests","code":"rate_limit_exceeded"}}',
            {"retry-after": "2"},
            "rate_limit",
        ),
        (503, b"<html>bad gateway</html>", {}, "unavailable"),
        (500, b"", {}, "api_error"),
    ],
)
def test_any_error_body_decodes_and_keeps_the_status(
    status: int, body: bytes, headers: dict[str, str], kind: str
) -> None:
    error = C.decode_error(status, headers, body)
    assert error.status == status and error.kind == kind and error.message
    if headers:
        assert error.retry_after == 2.0


def test_errors_encode_in_the_openai_shape() -> None:
    encoded = C.encode_error(CALL, ir.Error.of("overloaded", "busy", retry_after=1.5))
    assert encoded.status == 503 and encoded.headers["retry-after"] == "2"
    assert json.loads(encoded.body) == {
        "error": {"message": "busy", "type": "server_error", "param": None, "code": None}
    }
