"""The codec against every recorded OpenAI Chat and Mistral chat exchange
(tests/fixtures/openai_chat, tests/fixtures/mistral/chat_*)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from crosswire import ir
from crosswire.ir.grammar import check
from tests.unit.protocols.openai_chat.support import (
    CALL,
    FILES,
    C,
    data_lines,
    decode_request,
    decode_stream,
    encode_request,
    encode_stream,
    load,
    recorded_stream,
    summary,
)
from tests.unit.streamsplit import assert_split_invariant

STREAMS = [p for p in FILES if load(p)["stream"] and load(p)["response"]["status"] == 200]
WHOLE = [p for p in FILES if not load(p)["stream"] and load(p)["response"]["status"] == 200]
ERRORS = [p for p in FILES if load(p)["response"]["status"] >= 400]


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _request(path: Path) -> ir.Request:
    return decode_request(load(path)["request"]["body"])


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_recorded_request_decodes_and_survives_a_round_trip(path: Path) -> None:
    body = load(path)["request"]["body"]
    request = decode_request(body)
    assert len(request.messages) == len(body["messages"])
    assert request.stream == bool(body.get("stream"))
    assert [t.name for t in request.tools] == [t["function"]["name"] for t in body.get("tools", [])]
    dialect = "mistral" if path.parent.name == "mistral" else "openai"
    again = decode_request(encode_request(request, dialect, model=request.model))
    assert [m.role for m in again.messages] == [m.role for m in request.messages]
    assert again.tools == request.tools and again.params == request.params
    assert again.tool_choice == request.tool_choice
    assert again.response_format == request.response_format
    for before, after in zip(request.messages, again.messages, strict=True):
        assert [p.type for p in after.parts] == [p.type for p in before.parts]


@pytest.mark.parametrize("path", WHOLE, ids=_ids(WHOLE))
def test_recorded_answer_decodes_to_what_the_body_says(path: Path) -> None:
    raw = json.loads(load(path)["response"]["body"])
    response = C.decode_response(load(path)["response"]["body"].encode(), ir.Report())
    message = raw["choices"][0]["message"]
    got = summary(response)
    content = message.get("content")
    thought = message.get("reasoning_content") or message.get("reasoning") or ""
    if isinstance(content, list):  # Mistral thinking chunks
        thought = "".join(
            t["text"] for c in content if c["type"] == "thinking" for t in c["thinking"]
        )
        content = "".join(c["text"] for c in content if c["type"] == "text")
    assert got["text"] == (content or "")
    assert got["reasoning"] == thought
    assert got["calls"] == [
        {"id": tc["id"], "name": tc["function"]["name"], "arguments": tc["function"]["arguments"]}
        for tc in message.get("tool_calls") or []
    ]
    assert response.usage.input_tokens == raw["usage"]["prompt_tokens"]
    assert response.usage.output_tokens == raw["usage"]["completion_tokens"]
    assert response.finish.raw == raw["choices"][0]["finish_reason"]
    if got["calls"]:
        assert response.finish.reason == "tool_calls"
    assert response.id == raw["id"] and response.model == raw["model"]


@pytest.mark.parametrize("path", WHOLE, ids=_ids(WHOLE))
def test_recorded_answer_reencodes_for_the_sdk_and_round_trips(path: Path) -> None:
    request = _request(path)
    response = C.decode_response(load(path)["response"]["body"].encode(), ir.Report())
    encoded = C.encode_response(CALL, request, response, ir.Report())
    ChatCompletion.model_validate_json(encoded)
    again = C.decode_response(encoded, ir.Report())
    assert again.parts == response.parts
    assert again.finish == response.finish and again.usage == response.usage


@pytest.mark.parametrize("path", STREAMS, ids=_ids(STREAMS))
def test_recorded_stream_is_split_invariant_and_accumulates_to_the_recording(path: Path) -> None:
    """EDGE 1–3 in docs/edge-cases.md: any split of the bytes gives the same events."""
    body = load(path)["response"]["body"].encode()
    events = assert_split_invariant(
        lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()), body
    )
    check(events)
    assert isinstance(events[-1], ir.StreamFinish)
    recorded = recorded_stream(body)
    response = ir.accumulate(events)
    got = summary(response)
    assert got["text"] == recorded["text"]
    assert got["reasoning"] == recorded["reasoning"]
    assert got["calls"] == recorded["calls"]
    assert response.finish.raw == recorded["finish"]
    if recorded["usage"] is not None:
        assert response.usage.input_tokens == recorded["usage"]["prompt_tokens"]
        assert response.usage.output_tokens == recorded["usage"]["completion_tokens"]


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("path", STREAMS, ids=_ids(STREAMS))
def test_recorded_stream_reencodes_for_the_sdk_and_decodes_back(
    path: Path, include_usage: bool
) -> None:
    events = decode_stream(load(path)["response"]["body"].encode())
    response = ir.accumulate(events)
    out = encode_stream(events, ir.Request(model="m", include_usage=include_usage))
    payloads = data_lines(out)
    assert payloads[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(p) for p in payloads[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (chunks[-1].choices == [] and chunks[-1].usage is not None) is include_usage
    again = ir.accumulate(decode_stream(out))
    assert again.parts == response.parts
    assert again.finish.reason == response.finish.reason or (
        response.finish.reason == "stop_sequence" and again.finish.reason == "stop"
    )
    if include_usage and response.usage.input_tokens is not None:
        assert again.usage.input_tokens == response.usage.input_tokens


@pytest.mark.parametrize("path", ERRORS, ids=_ids(ERRORS))
def test_recorded_error_keeps_status_and_message(path: Path) -> None:
    rec = load(path)["response"]
    error = C.decode_error(rec["status"], rec["headers"], rec["body"].encode())
    raw: dict[str, Any] = json.loads(rec["body"])
    assert error.status == rec["status"]
    assert error.message == (raw.get("error") or {}).get("message", raw.get("detail"))
    encoded = C.encode_error(CALL, error)
    assert encoded.status == rec["status"]
    assert json.loads(encoded.body)["error"]["message"] == error.message
