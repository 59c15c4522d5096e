"""Whole Ollama answers ⇄ IR; what an Ollama app gets validates strictly as
``ollama.ChatResponse`` / ``GenerateResponse``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from tests.unit.protocols.ollama.support import CHAT, GENERATE, C, assert_answer_ok

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
LOGPROBS = [{"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}]}]
COUNTS = {
    "done": True,
    "total_duration": 5,
    "load_duration": 1,
    "prompt_eval_count": 12,
    "prompt_eval_duration": 2,
    "eval_count": 7,
    "eval_duration": 3,
}


def _decode(obj: dict[str, Any]) -> ir.Response:
    return C.decode_response(json.dumps(obj).encode(), ir.Report())


def _chat_answer(**message: Any) -> dict[str, Any]:
    return {
        "model": "gpt-oss:20b",
        "created_at": "2025-08-15T22:55:08.508208329Z",
        "message": {"role": "assistant", "content": "", **message},
        "done_reason": "stop",
        **COUNTS,
    }


def test_a_chat_answer_with_thinking_tool_calls_and_logprobs() -> None:
    answer = _chat_answer(
        thinking="Need the weather.",
        tool_calls=[
            {"id": "call_p7o2gz50", "function": {"index": 0, "name": "w", "arguments": {"c": "P"}}},
            {"function": {"name": "t", "arguments": {}}},
        ],
    ) | {"logprobs": LOGPROBS}
    r = _decode(answer)
    thinking, first, second = r.parts
    assert thinking == ir.Reasoning(text="Need the weather.", origin="ollama")
    assert isinstance(first, ir.ToolCall) and isinstance(second, ir.ToolCall)
    assert (first.id, first.name, first.arguments) == ("call_p7o2gz50", "w", '{"c":"P"}')
    assert second.id.startswith("call_") and second.id != first.id
    assert r.finish == ir.Finish(reason="tool_calls", raw="stop")
    assert r.usage == ir.Usage(input_tokens=12, output_tokens=7)
    assert r.created == 1755298508 and r.model == "gpt-oss:20b"
    assert r.native["ollama"]["logprobs"] == LOGPROBS

    body = C.encode_response(CHAT, ir.Request(model="app"), r, ir.Report())
    assert_answer_ok(body, stream=False)
    out = json.loads(body)
    assert out == answer | {
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "Need the weather.",
            "tool_calls": [
                {"function": {"name": "w", "arguments": {"c": "P"}}},  # no id: the SDK has none
                {"function": {"name": "t", "arguments": {}}},
            ],
        }
    }


@pytest.mark.parametrize(
    ("done_reason", "reason"),
    [("length", "length"), ("stop", "stop"), ("load", "stop"), (None, "stop")],
)
def test_done_reasons(done_reason: str | None, reason: str) -> None:
    r = _decode(_chat_answer(content="x") | {"done_reason": done_reason})
    assert r.finish == ir.Finish(reason=reason, raw=done_reason)  # type: ignore[arg-type]


def test_a_generate_answer_keeps_context_and_logprobs_for_an_ollama_app() -> None:
    answer = {
        "model": "llama3",
        "created_at": "2024-05-24T20:01:31.01558Z",
        "response": "Blue.",
        "thinking": "Rayleigh",
        "context": [1, 2, 3],
        "logprobs": LOGPROBS,
        "done_reason": "stop",
        **COUNTS,
    }
    r = _decode(answer)
    assert r.parts == (ir.Reasoning(text="Rayleigh", origin="ollama"), ir.Text(text="Blue."))
    body = C.encode_response(GENERATE, ir.Request(model="app"), r, ir.Report())
    assert_answer_ok(body, stream=False, generate=True)
    assert json.loads(body) == answer
    chat = json.loads(C.encode_response(CHAT, ir.Request(model="app"), r, ir.Report()))
    assert "context" not in chat and chat["logprobs"] == LOGPROBS


def test_an_image_generation_answer_is_an_image_part() -> None:
    answer = {"model": "flux", "created_at": "2026-01-01T00:00:00Z", "image": PNG, "response": ""}
    r = _decode(answer | {"done": True, "done_reason": "stop"})
    assert r.parts == (ir.File(kind="image", data=PNG, media_type="image/png"),)
    body = C.encode_response(GENERATE, ir.Request(model="app"), r, ir.Report())
    assert_answer_ok(body, stream=False, generate=True)
    assert json.loads(body)["image"] == PNG
    report = ir.Report()
    chat = C.encode_response(CHAT, ir.Request(model="app"), r, report)
    assert_answer_ok(chat, stream=False)
    assert "images" not in json.loads(chat)["message"] and report.dropped_fields == ["images"]


def test_an_answer_from_another_protocol_validates_for_an_ollama_app() -> None:
    r = ir.Response(
        id="msg_1",
        model="claude",
        parts=(
            ir.Reasoning(text="hmm", signature="sig", origin="anthropic"),
            ir.Text(text="Hello"),
            ir.Opaque(origin="anthropic", data={"type": "web_search_tool_result"}),
            ir.ToolCall(id="toolu_1", name="f", arguments='{"q":"x"}'),
            ir.File(kind="image", url="https://example.com/x.png"),
        ),
        finish=ir.Finish(reason="tool_calls", raw="tool_use"),
        usage=ir.Usage(input_tokens=3, output_tokens=4, cache_read_tokens=1),
        created=1700000000,
    )
    report = ir.Report()
    body = C.encode_response(CHAT, ir.Request(model="app"), r, report)
    assert_answer_ok(body, stream=False)
    out = json.loads(body)
    assert out["created_at"] == "2023-11-14T22:13:20.000000Z"
    assert out["done_reason"] == "stop" and out["prompt_eval_count"] == 3
    assert out["message"] == {
        "role": "assistant",
        "content": "Hello",
        "thinking": "hmm",
        "tool_calls": [{"function": {"name": "f", "arguments": {"q": "x"}}}],
    }
    assert set(report.dropped_fields) == {"anthropic block web_search_tool_result", "image"}
    generate = C.encode_response(GENERATE, ir.Request(model="app"), r, ir.Report())
    assert_answer_ok(generate, stream=False, generate=True)


@pytest.mark.parametrize(
    ("finish", "done_reason"),
    [("length", "length"), ("pause", "length"), ("content_filter", "stop"), ("error", "stop")],
)
def test_ir_finish_reasons_are_clamped_to_stop_or_length(finish: str, done_reason: str) -> None:
    r = ir.Response(id="x", model="m", parts=(ir.Text(text="t"),), finish=ir.Finish(reason=finish))  # type: ignore[arg-type]
    assert (
        json.loads(C.encode_response(CHAT, ir.Request(model="m"), r, ir.Report()))["done_reason"]
        == done_reason
    )


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"error":"model is loading"}'])
def test_unusable_answers_are_upstream_protocol_errors(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        C.decode_response(body, ir.Report())
