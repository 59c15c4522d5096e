"""Apps on Mistral's SDK (dialect ``mistral``): whole tool calls in streams, the finish on the
last content chunk, thinking chunks, Mistral's error shapes — each checked with the SDK's own
models (``mistralai.client.models``), and against the shape of Mistral's recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mistralai.client import models as mm
from mistralai.client.errors import HTTPValidationErrorData

from crosswire import ir
from crosswire.ir.accumulate import accumulate
from crosswire.protocols.base import ClientCall
from tests.unit.protocols.openai_chat.support import (
    FIXTURES,
    C,
    data_lines,
    decode_stream,
    load,
    recorded_stream,
)

MISTRAL = ClientCall(protocol="openai-chat", endpoint="generate", dialect="mistral")
START = ir.ResponseStart(id="r1", model="mistral-small-latest", created=1700000000)
USAGE = ir.Usage(input_tokens=10, output_tokens=5, cache_read_tokens=4)


def _encode(events: list[ir.Event], request: ir.Request | None = None) -> bytes:
    encoder = C.stream_encoder(MISTRAL, request or ir.Request(model="m"), ir.Report())
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def _chunks(body: bytes) -> list[dict[str, Any]]:
    """The chunks, each validated by the SDK's ``CompletionChunk`` (what ``chat.stream`` does)."""
    payloads = data_lines(body)
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        mm.CompletionChunk.model_validate_json(payload)
    return [json.loads(p) for p in payloads[:-1]]


def _choice(chunk: dict[str, Any]) -> dict[str, Any]:
    choice: dict[str, Any] = chunk["choices"][0]
    return choice


def _call_events(fragments: list[str], index: int = 0, call_id: str = "call_1") -> list[ir.Event]:
    return [
        ir.PartStart(index=index, part=ir.ToolCall(id=call_id, name="weather", arguments="")),
        *[ir.PartDelta(index=index, kind="arguments", text=f) for f in fragments],
        ir.PartEnd(index=index),
    ]


def test_recorded_tool_call_stream_is_reproduced_chunk_for_chunk() -> None:
    """The recording's shape: role chunk, then one chunk with the whole call, its index, the
    finish reason and the usage; then [DONE]."""
    record = load(FIXTURES / "mistral" / "chat_stream_tool_call.json")
    body = record["response"]["body"].encode()
    ours = _chunks(_encode(decode_stream(body)))
    theirs = [json.loads(p) for p in data_lines(body)[:-1]]
    assert [_choice(c)["delta"] for c in ours] == [_choice(c)["delta"] for c in theirs]
    assert [_choice(c)["finish_reason"] for c in ours] == [None, "tool_calls"]
    assert [("usage" in c) for c in ours] == [("usage" in c) for c in theirs]
    assert all("logprobs" not in _choice(c) for c in ours)


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "openai_chat").glob("stream_*tool*.json"))
    + sorted((FIXTURES / "mistral").glob("chat_stream_*.json")),
    ids=lambda p: p.stem,
)
def test_every_recorded_stream_reaches_the_sdk_whole(path: Path) -> None:
    """Fragmented OpenAI tool calls (and everything else) are re-encoded so that the SDK
    validates every chunk, each call appears once with its name and complete arguments, and
    the answer is the recorded one."""
    body = load(path)["response"]["body"].encode()
    events = decode_stream(body)
    chunks = _chunks(_encode(events))
    calls = [tc for c in chunks for tc in _choice(c)["delta"].get("tool_calls") or []]
    expected = recorded_stream(body)
    assert [(tc["id"], tc["function"]["name"]) for tc in calls] == [
        (c["id"], c["name"]) for c in expected["calls"]
    ]
    for tc, want in zip(calls, expected["calls"], strict=True):
        assert json.loads(tc["function"]["arguments"] or "{}") == json.loads(
            want["arguments"] or "{}"
        )
    assert [tc["index"] for tc in calls] == list(range(len(calls)))
    finishes = [_choice(c)["finish_reason"] for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1) and finishes[-1] is not None
    assert "usage" in chunks[-1] and all("usage" not in c for c in chunks[:-1])
    text = "".join(
        d["content"]
        for d in (_choice(c)["delta"] for c in chunks)
        if isinstance(d.get("content"), str)
    )
    assert text == expected["text"]
    assert accumulate(events).finish.reason in ("tool_calls", "stop", "length")


def test_parallel_calls_each_come_whole_with_a_running_index() -> None:
    events: list[ir.Event] = [
        START,
        *_call_events(['{"city"', ': "Paris"}'], 0, "a"),
        *_call_events([], 1, "b"),
        ir.StreamFinish(finish=ir.Finish(reason="tool_calls"), usage=USAGE),
    ]
    chunks = _chunks(_encode(events))
    deltas = [_choice(c)["delta"] for c in chunks]
    assert deltas[1] == {
        "tool_calls": [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                "index": 0,
            }
        ]
    }
    assert deltas[2]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert deltas[2]["tool_calls"][0]["index"] == 1
    assert _choice(chunks[2])["finish_reason"] == "tool_calls"
    assert chunks[2]["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
    }


def test_text_finish_rides_on_the_last_content_chunk() -> None:
    events: list[ir.Event] = [
        START,
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="1, 2,"),
        ir.PartDelta(index=0, kind="text", text=" 3"),
        ir.PartEnd(index=0),
        ir.StreamFinish(finish=ir.Finish(reason="length"), usage=USAGE),
    ]
    chunks = _chunks(_encode(events))
    assert [_choice(c)["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "1, 2,"},
        {"content": " 3"},
    ]
    assert [_choice(c)["finish_reason"] for c in chunks] == [None, None, "length"]


def test_an_empty_answer_still_finishes_with_a_content_chunk() -> None:
    chunks = _chunks(_encode([START, ir.StreamFinish(finish=ir.Finish(reason="stop"))]))
    assert _choice(chunks[-1]) == {"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}


def test_reasoning_streams_as_thinking_chunks_and_refusals_as_content() -> None:
    events: list[ir.Event] = [
        START,
        ir.PartStart(index=0, part=ir.Reasoning(text="", origin="anthropic")),
        ir.PartDelta(index=0, kind="reasoning", text="hmm"),
        ir.PartDelta(index=0, kind="signature", text="sig"),
        ir.PartEnd(index=0),
        ir.PartStart(index=1, part=ir.Text(text="", native={"openai-chat": {"refusal": True}})),
        ir.PartDelta(index=1, kind="text", text="no"),
        ir.PartEnd(index=1),
        ir.StreamFinish(finish=ir.Finish(reason="refusal")),
    ]
    report = ir.Report()
    encoder = C.stream_encoder(MISTRAL, ir.Request(model="m"), report)
    body = b"".join(encoder.encode(e) for e in events)
    chunks = _chunks(body)
    assert _choice(chunks[1])["delta"] == {
        "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}]
    }
    assert _choice(chunks[2])["delta"] == {"content": "no"}
    assert _choice(chunks[2])["finish_reason"] == "stop"
    assert "reasoning.signature" in report.dropped_fields


def test_an_error_mid_stream_is_mistral_shaped_after_what_was_held() -> None:
    events: list[ir.Event] = [
        START,
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="par"),
        ir.StreamError(error=ir.Error.of("rate_limit", "Rate limit exceeded")),
    ]
    payloads = data_lines(_encode(events))
    assert json.loads(payloads[1])["choices"][0]["delta"] == {"content": "par"}
    assert json.loads(payloads[-1]) == {
        "object": "error",
        "message": "Rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    assert "[DONE]" not in payloads


def test_a_stream_cut_without_a_finish_still_writes_the_held_delta() -> None:
    encoder = C.stream_encoder(MISTRAL, ir.Request(model="m"), ir.Report())
    out = encoder.encode(START) + encoder.encode(ir.PartStart(index=0, part=ir.Text(text="x")))
    assert b'"content":"x"' not in out
    assert b'"content":"x"' in encoder.close()


# ---- whole answers -----------------------------------------------------------------------------


def test_whole_answer_with_calls_and_thinking_validates_with_the_sdk() -> None:
    response = ir.Response(
        id="r1",
        model="mistral-small-latest",
        parts=(
            ir.Reasoning(text="think", origin="anthropic", signature="s"),
            ir.Text(text="ok"),
            ir.ToolCall(id="c1", name="dice_roll", arguments=""),
            ir.ToolCall(id="c2", name="dice_roll", arguments='{"n":2}'),
        ),
        finish=ir.Finish(reason="tool_calls"),
        usage=USAGE,
    )
    report = ir.Report()
    body = json.loads(C.encode_response(MISTRAL, ir.Request(model="m"), response, report))
    parsed = mm.ChatCompletionResponse.model_validate(body)
    message = body["choices"][0]["message"]
    assert message["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "think"}], "closed": True},
        {"type": "text", "text": "ok"},
    ]
    assert [tc["index"] for tc in message["tool_calls"]] == [0, 1]
    assert message["tool_calls"][0]["function"]["arguments"] == "{}"
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert "logprobs" not in body["choices"][0] and "refusal" not in message
    assert "reasoning.signature" in report.dropped_fields


def test_whole_text_answer_has_the_recorded_shape() -> None:
    record = load(FIXTURES / "mistral" / "chat_nonstream_basic.json")
    recorded = json.loads(record["response"]["body"])
    response = C.decode_response(record["response"]["body"].encode(), ir.Report())
    ours = json.loads(C.encode_response(MISTRAL, ir.Request(model="m"), response, ir.Report()))
    assert ours["choices"] == recorded["choices"]
    assert set(ours) == set(recorded)


# ---- errors ------------------------------------------------------------------------------------


def test_a_refused_key_is_the_recorded_401() -> None:
    record = load(FIXTURES / "mistral" / "chat_error_401_unauthorized.json")
    error = C.decode_error(401, {}, record["response"]["body"].encode())
    encoded = C.encode_error(MISTRAL, error)
    assert encoded.status == 401
    assert json.loads(encoded.body) == json.loads(record["response"]["body"])


def test_rate_limits_are_mistral_shaped_with_retry_after() -> None:
    error = ir.Error(kind="rate_limit", message="Rate limit exceeded", status=429, retry_after=2)
    encoded = C.encode_error(MISTRAL, error)
    assert encoded.status == 429 and encoded.headers["retry-after"] == "2"
    assert json.loads(encoded.body)["type"] == "rate_limited"
    assert C.decode_error(429, {}, encoded.body).kind == "rate_limit"


def test_a_422_parses_as_the_sdks_validation_error() -> None:
    error = ir.Error(kind="invalid_request", message="bad", status=422, param="messages.0.content")
    body = json.loads(C.encode_error(MISTRAL, error).body)
    data = HTTPValidationErrorData.model_validate(body)
    assert data.detail is not None and data.detail[0].loc == ["body", "messages", "0", "content"]


def test_openai_apps_keep_the_openai_envelope() -> None:
    error = ir.Error(kind="rate_limit", message="slow down", status=429)
    assert "error" in json.loads(C.encode_error(None, error).body)
