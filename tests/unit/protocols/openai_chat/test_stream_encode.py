"""The client-side stream encoder: chunk lifecycle, tool indices, usage chunk, errors."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletionChunk

from crosswire import ir
from tests.unit.protocols.openai_chat.support import data_lines, decode_stream, encode_stream

START = ir.ResponseStart(id="msg_1", model="claude", created=1700000000)
USAGE = ir.Usage(input_tokens=10, output_tokens=5, cache_read_tokens=4, reasoning_tokens=2)


def _chunks(body: bytes) -> list[dict[str, Any]]:
    payloads = data_lines(body)
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        ChatCompletionChunk.model_validate_json(payload)
    return [json.loads(p) for p in payloads[:-1]]


def _deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def _text_events(finish: str = "stop") -> list[ir.Event]:
    return [
        START,
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="Hel"),
        ir.PartDelta(index=0, kind="text", text='lo "x"'),
        ir.PartEnd(index=0),
        ir.StreamFinish(finish=ir.Finish(reason=finish), usage=USAGE),  # type: ignore[arg-type]
    ]


def test_text_stream_lifecycle() -> None:
    chunks = _chunks(encode_stream(_text_events()))
    assert chunks[0]["id"] == "chatcmpl-msg_1" and chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["model"] == "claude" and chunks[0]["created"] == 1700000000
    assert _deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": 'lo "x"'},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert all(c["id"] == "chatcmpl-msg_1" for c in chunks)


def test_usage_chunk_only_when_the_app_asked() -> None:
    """EDGE 24: usage null on every chunk, then choices:[] with usage; otherwise no usage."""
    asked = _chunks(encode_stream(_text_events(), ir.Request(model="m", include_usage=True)))
    assert all(c["usage"] is None for c in asked[:-1])
    assert asked[-1]["choices"] == [] and asked[-1]["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    silent = _chunks(encode_stream(_text_events(), ir.Request(model="m", include_usage=False)))
    assert all("usage" not in c for c in silent) and silent[-1]["choices"]


def test_usage_updates_are_merged_into_the_final_chunk() -> None:
    events = _text_events()
    events.insert(1, ir.UsageUpdate(usage=ir.Usage(input_tokens=10)))
    events[-1] = ir.StreamFinish(finish=ir.Finish(reason="stop"), usage=ir.Usage(output_tokens=7))
    chunks = _chunks(encode_stream(events, ir.Request(model="m", include_usage=True)))
    assert (
        chunks[-1]["usage"]["prompt_tokens"] == 10 and chunks[-1]["usage"]["completion_tokens"] == 7
    )


def test_parallel_calls_get_a_running_index_and_their_header_once() -> None:
    """EDGE 20, 22, 23: distinct indices across the stream, id/type/name only in the first
    fragment, a call without arguments still gets "{}", finish tool_calls despite "stop"."""
    events: list[ir.Event] = [
        START,
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="calling"),
        ir.PartEnd(index=0),
        ir.PartStart(index=1, part=ir.ToolCall(id="a", name="f", arguments="")),
        ir.PartDelta(index=1, kind="arguments", text='{"x":'),
        ir.PartDelta(index=1, kind="arguments", text="1}"),
        ir.PartEnd(index=1),
        ir.PartStart(index=2, part=ir.ToolCall(id="b", name="g", arguments="")),
        ir.PartEnd(index=2),
        ir.StreamFinish(finish=ir.Finish(reason="stop")),
    ]
    chunks = _chunks(encode_stream(events))
    calls = [d["tool_calls"][0] for d in _deltas(chunks) if "tool_calls" in d]
    assert calls == [
        {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x":'}},
        {"index": 0, "function": {"arguments": "1}"}},
        {"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_is_streamed_as_reasoning_content_with_a_carrier_when_signed() -> None:
    """EDGE 61, 63, 67."""
    events: list[ir.Event] = [
        START,
        ir.PartStart(index=0, part=ir.Reasoning(origin="anthropic")),
        ir.PartDelta(index=0, kind="reasoning", text="let me"),
        ir.PartDelta(index=0, kind="reasoning", text=" think"),
        ir.PartDelta(index=0, kind="signature", text="SIG"),
        ir.PartEnd(index=0),
        ir.PartStart(index=1, part=ir.Reasoning(redacted="OPAQUE", origin="anthropic")),
        ir.PartEnd(index=1),
        ir.PartStart(index=2, part=ir.Reasoning(origin="gemini")),
        ir.PartDelta(index=2, kind="reasoning", text="plain"),
        ir.PartEnd(index=2),
        ir.StreamFinish(finish=ir.Finish(reason="stop")),
    ]
    deltas = _deltas(_chunks(encode_stream(events)))
    assert deltas[1:-1] == [
        {"reasoning_content": "let me"},
        {"reasoning_content": " think"},
        {
            "thinking_blocks": [
                {
                    "type": "thinking",
                    "thinking": "let me think",
                    "signature": "SIG",
                    "provider": "anthropic",
                }
            ]
        },
        {
            "thinking_blocks": [
                {"type": "redacted_thinking", "data": "OPAQUE", "provider": "anthropic"}
            ]
        },
        {"reasoning_content": "plain"},
    ]


def test_refusal_text_streams_in_the_refusal_field() -> None:
    events: list[ir.Event] = [
        START,
        ir.PartStart(
            index=0, part=ir.Text(text="I can't", native={"openai-chat": {"refusal": True}})
        ),
        ir.PartDelta(index=0, kind="text", text=" help"),
        ir.PartEnd(index=0),
        ir.StreamFinish(finish=ir.Finish(reason="refusal")),
    ]
    chunks = _chunks(encode_stream(events))
    assert _deltas(chunks)[1:3] == [{"refusal": "I can't"}, {"refusal": " help"}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_stream_error_is_an_error_chunk_without_done() -> None:
    """EDGE 10: after the error nothing more is written."""
    error = ir.Error(kind="overloaded", message="Overloaded", status=529)
    body = encode_stream(
        [
            *_text_events()[:3],
            ir.StreamError(error=error),
            ir.StreamFinish(finish=ir.Finish(reason="stop")),
        ]
    )
    assert b"[DONE]" not in body
    last = data_lines(body)[-1]
    assert json.loads(last) == {
        "error": {"message": "Overloaded", "type": "server_error", "param": None, "code": None}
    }


def test_finish_reasons_are_clamped_to_the_sdk_enum() -> None:
    """EDGE 74: pause must not look like a clean stop."""
    for reason, wire in (("pause", "length"), ("stop_sequence", "stop"), ("error", "stop")):
        chunks = _chunks(encode_stream(_text_events(reason)))
        assert chunks[-1]["choices"][0]["finish_reason"] == wire


def test_a_stream_without_response_start_still_begins_with_the_role() -> None:
    body = encode_stream(_text_events()[1:], ir.Request(model="app-model"))
    chunks = _chunks(body)
    assert _deltas(chunks)[0] == {"role": "assistant", "content": ""}
    assert chunks[0]["model"] == "app-model" and chunks[0]["id"].startswith("chatcmpl-")


def test_generated_images_and_foreign_blocks() -> None:
    report = ir.Report()
    from tests.unit.protocols.openai_chat.support import CALL, C

    encoder = C.stream_encoder(CALL, ir.Request(model="m"), report)
    out = encoder.encode(START) + encoder.encode(
        ir.PartStart(index=0, part=ir.File(kind="image", media_type="image/png", data="iVBO"))
    )
    out += encoder.encode(ir.PartEnd(index=0)) + encoder.encode(
        ir.PartStart(index=1, part=ir.Opaque(origin="anthropic", data={"type": "server_tool_use"}))
    )
    assert (
        b'"images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]' in out
    )
    assert "server_tool_use" in report.dropped_fields


def test_text_that_is_not_valid_unicode_does_not_break_the_stream() -> None:
    events = _text_events()
    events[2] = ir.PartDelta(index=0, kind="text", text="bad \ud800 surrogate")
    chunks = _chunks(encode_stream(events))
    assert _deltas(chunks)[1] == {"content": "bad \ufffd surrogate"}


def test_encoded_stream_decodes_back_to_the_same_answer() -> None:
    response = ir.Response(
        id="r",
        model="m",
        parts=(
            ir.Reasoning(text="hmm", origin="openai-chat"),
            ir.Text(text="a"),
            ir.ToolCall(id="c1", name="f", arguments='{"q":"日本"}'),
            ir.ToolCall(id="c2", name="g", arguments="{}"),
        ),
        finish=ir.Finish(reason="tool_calls"),
        usage=ir.Usage(input_tokens=3, output_tokens=4),
    )
    body = encode_stream(ir.replay(response), ir.Request(model="m", include_usage=True))
    again = ir.accumulate(decode_stream(body))
    assert again.parts == response.parts
    assert again.finish.reason == "tool_calls" and again.usage.output_tokens == 4
