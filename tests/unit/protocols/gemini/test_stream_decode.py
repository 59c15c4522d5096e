"""The Gemini stream decoder on synthetic streams: framings, calls, usage, finish, errors."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from crosswire.ir import (
    PartDelta,
    PartEnd,
    PartStart,
    Reasoning,
    Report,
    Request,
    ResponseStart,
    StreamError,
    StreamFinish,
    Text,
    ToolCall,
    Usage,
    accumulate,
)
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.callids import is_synthetic
from tests.unit.streamsplit import assert_split_invariant

from .support import chunk, sse, stream_events, stream_response


def check_grammar(events: Sequence[object]) -> None:
    """ResponseStart first, dense indices, one part open at a time, one terminal event."""
    assert isinstance(events[0], ResponseStart)
    open_index = None
    next_index = 0
    for event in events[1:-1]:
        assert not isinstance(event, (ResponseStart, StreamFinish, StreamError))
        if isinstance(event, PartStart):
            assert open_index is None and event.index == next_index
            open_index, next_index = event.index, next_index + 1
        elif isinstance(event, PartDelta):
            assert event.index == open_index
        elif isinstance(event, PartEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None
    assert isinstance(events[-1], (StreamFinish, StreamError))


def test_text_deltas_are_forwarded_and_merged_into_one_part() -> None:
    body = sse(
        chunk([{"text": "Hel"}], usage={"promptTokenCount": 5, "totalTokenCount": 5}),
        chunk([{"text": "lo"}]),
        chunk(
            [{"text": ""}],
            finish="STOP",
            usage={"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        ),
    )
    events = stream_events(body)
    check_grammar(events)
    start = events[0]
    assert isinstance(start, ResponseStart)
    assert (start.id, start.model, start.usage.input_tokens) == ("resp-1", "gemini-2.5-flash", 5)
    deltas = [e.text for e in events if isinstance(e, PartDelta)]
    assert deltas == ["Hel", "lo"]
    response = accumulate(events)
    assert response.parts == (Text(text="Hello"),)
    assert response.finish.reason == "stop"


def test_plain_json_object_answer_to_a_stream_request() -> None:
    """Edge case 7 in docs/edge-cases.md: an upstream may answer a stream request whole."""
    body = json.dumps(chunk([{"text": "whole"}], finish="STOP")).encode()
    events = assert_split_invariant(
        lambda: CODEC.stream_decoder(Request(model="m"), Report()), body
    )
    assert accumulate(events).parts == (Text(text="whole"),)


def test_json_array_stream() -> None:
    """Edge case 7: ``[{…}\\n,\\r\\n{…}\\n]`` with content-type application/json."""
    body = (
        "["
        + json.dumps(chunk([{"text": "a"}]), indent=2)
        + "\n,\r\n"
        + json.dumps(chunk([{"text": "b"}], finish="STOP"), indent=2)
        + "\n]"
    ).encode()
    events = assert_split_invariant(
        lambda: CODEC.stream_decoder(Request(model="m"), Report()), body
    )
    assert accumulate(events).parts == (Text(text="ab"),)


def test_eof_without_finish_reason_is_an_error() -> None:
    """Edge case 11: Gemini has no terminator; EOF before a finishReason is a failure."""
    events = stream_events(sse(chunk([{"text": "partial"}])))
    check_grammar(events)
    error = events[-1]
    assert isinstance(error, StreamError)
    assert error.error.status == 502


def test_empty_body_is_an_error() -> None:
    events = stream_events(b"")
    assert len(events) == 1 and isinstance(events[0], StreamError)


def test_in_band_error_becomes_stream_error() -> None:
    """Edge case 10."""
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    events = stream_events(sse(chunk([{"text": "a"}]), error))
    check_grammar(events)
    last = events[-1]
    assert isinstance(last, StreamError)
    assert (last.error.kind, last.error.status) == ("overloaded", 503)
    array = stream_events(
        b'[{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}]'
    )
    assert isinstance(array[-1], StreamError) and array[-1].error.kind == "rate_limit"


def test_function_calls_get_their_own_parts_whole_args_and_tool_calls_finish() -> None:
    """Edges 20, 21, 23: several calls in one chunk and in several chunks, each one part
    with its complete arguments as one delta; STOP + calls → tool_calls."""
    body = sse(
        chunk([{"text": "Let me check."}]),
        chunk(
            [
                {
                    "functionCall": {"name": "weather", "args": {"city": "Berlin"}},
                    "thoughtSignature": "c2ln",
                },
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
            ]
        ),
        chunk([{"functionCall": {"name": "time", "args": {}}}], finish="STOP"),
    )
    events = stream_events(body)
    check_grammar(events)
    args = [e.text for e in events if isinstance(e, PartDelta) and e.kind == "arguments"]
    assert args == ['{"city":"Berlin"}', '{"city":"Paris"}', "{}"]
    response = accumulate(events)
    calls = [p for p in response.parts if isinstance(p, ToolCall)]
    assert [c.name for c in calls] == ["weather", "weather", "time"]
    assert len({c.id for c in calls}) == 3 and all(is_synthetic(c.id) for c in calls)
    assert calls[0].native == {"gemini": {"thoughtSignature": "c2ln"}}
    assert response.finish.reason == "tool_calls" and response.finish.raw == "STOP"


def test_call_ids_are_stable_and_gemini3_ids_kept() -> None:
    body = sse(
        chunk(
            [
                {"functionCall": {"name": "f", "args": {}}},
                {"functionCall": {"id": "ab12cd34", "name": "g", "args": {}}},
            ],
            finish="STOP",
        )
    )
    first = accumulate(stream_events(body))
    second = accumulate(stream_events(body))
    assert first.parts == second.parts
    assert first.parts[1].id == "ab12cd34"  # type: ignore[union-attr]


def test_whole_and_streamed_decoding_derive_the_same_call_ids() -> None:
    whole = chunk([{"functionCall": {"name": "f", "args": {"a": 1}}}], finish="STOP")
    streamed = accumulate(stream_events(sse(whole)))
    decoded = CODEC.decode_response(json.dumps(whole).encode(), Report())
    assert streamed.parts == decoded.parts


def test_thoughts_are_reasoning_and_signatures_start_new_parts() -> None:
    """Edge cases 67, 68: thoughts → Reasoning; a text chunk carrying a signature opens its
    own Text part so the signature stays where Gemini put it."""
    body = sse(
        chunk([{"text": "**Plan**", "thought": True}]),
        chunk([{"text": " more", "thought": True}]),
        chunk([{"text": "Answer", "thoughtSignature": "c2ln"}]),
        chunk([{"text": " continues"}]),
        chunk([{"text": "", "thoughtSignature": "ZW5k"}], finish="STOP"),
    )
    events = stream_events(body)
    check_grammar(events)
    response = accumulate(events)
    assert response.parts == (
        Reasoning(text="**Plan** more", origin="gemini"),
        Text(text="Answer continues", native={"gemini": {"thoughtSignature": "c2ln"}}),
        Text(text="", native={"gemini": {"thoughtSignature": "ZW5k"}}),
    )


def test_signed_thought_ends_its_reasoning_part() -> None:
    body = sse(
        chunk([{"text": "a", "thought": True, "thoughtSignature": "c2ln"}]),
        chunk([{"text": "b", "thought": True}], finish="STOP"),
    )
    response = stream_response(body)
    assert response.parts == (
        Reasoning(text="a", signature="c2ln", origin="gemini"),
        Reasoning(text="b", origin="gemini"),
    )


def test_thought_marker_text_is_not_reclassified() -> None:
    """Edge case 71."""
    response = stream_response(sse(chunk([{"text": "THOUGHT: maybe"}], finish="STOP")))
    assert response.parts == (Text(text="THOUGHT: maybe"),)


def test_usage_keeps_the_last_running_total_and_adds_thoughts() -> None:
    """Edges 76–78: never summed; thoughts added to output and reported as reasoning;
    cached tokens are part of the prompt count."""
    body = sse(
        chunk(
            [{"text": "a"}],
            usage={"promptTokenCount": 100, "cachedContentTokenCount": 60, "totalTokenCount": 100},
        ),
        chunk(
            [{"text": "b"}],
            usage={
                "promptTokenCount": 100,
                "cachedContentTokenCount": 60,
                "candidatesTokenCount": 5,
                "thoughtsTokenCount": 40,
                "totalTokenCount": 145,
            },
        ),
        chunk([], finish="STOP"),
        {
            "usageMetadata": {
                "promptTokenCount": 100,
                "cachedContentTokenCount": 60,
                "candidatesTokenCount": 9,
                "thoughtsTokenCount": 40,
                "totalTokenCount": 149,
            }
        },
    )
    finish = stream_events(body)[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.usage == Usage(
        input_tokens=100, output_tokens=49, cache_read_tokens=60, reasoning_tokens=40
    )


def test_tool_use_prompt_tokens_count_as_input() -> None:
    meta = {
        "promptTokenCount": 10,
        "toolUsePromptTokenCount": 90,
        "candidatesTokenCount": 1,
        "totalTokenCount": 101,
    }
    finish = stream_events(sse(chunk([{"text": "x"}], finish="STOP", usage=meta)))[-1]
    assert isinstance(finish, StreamFinish) and finish.usage.input_tokens == 100


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("IMAGE_SOMETHING_NEW", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("UNEXPECTED_TOOL_CALL", "error"),
        ("OTHER", "error"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reason_table(raw: str, reason: str) -> None:
    """Edges 72, 73: malformed calls are errors with the raw value kept, never a clean stop."""
    finish = stream_events(sse(chunk([{"text": "x"}], finish=raw)))[-1]
    assert isinstance(finish, StreamFinish)
    assert (finish.finish.reason, finish.finish.raw) == (reason, raw)


def test_blocked_prompt_without_candidates_is_content_filter() -> None:
    body = sse(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 7},
            "responseId": "r",
        }
    )
    events = stream_events(body)
    assert isinstance(events[0], ResponseStart)
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert (finish.finish.reason, finish.finish.raw) == ("content_filter", "PROHIBITED_CONTENT")
    whole = CODEC.decode_response(b'{"promptFeedback": {"blockReason": "SAFETY"}}', Report())
    assert (whole.finish.reason, whole.finish.raw, whole.parts) == ("content_filter", "SAFETY", ())


def test_missing_response_id_is_derived() -> None:
    plain = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}
    first = stream_events(sse(plain))[0]
    again = stream_events(sse(plain))[0]
    assert isinstance(first, ResponseStart) and isinstance(again, ResponseStart)
    assert first.id == again.id and first.id.startswith("gemini-")
    assert first.model == "gemini-2.5-flash"  # the request's model when modelVersion is absent


def test_images_and_code_parts_are_complete_parts() -> None:
    body = sse(
        chunk(
            [
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}},
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                {"text": "done"},
            ],
            finish="STOP",
        )
    )
    events = stream_events(body)
    check_grammar(events)
    response = accumulate(events)
    assert [p.type for p in response.parts] == ["file", "opaque", "text"]


def test_other_candidates_are_reported_and_ignored() -> None:
    report = Report()
    two = {
        "candidates": [
            {"content": {"parts": [{"text": "one"}]}, "index": 0, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "two"}]}, "index": 1, "finishReason": "STOP"},
        ]
    }
    decoder = CODEC.stream_decoder(Request(model="m"), report)
    response = accumulate(decoder.feed(sse(two)) + decoder.flush())
    assert response.parts == (Text(text="one"),)
    assert "candidates[1:]" in report.dropped_fields


def test_malformed_json_raises_upstream_protocol_error() -> None:
    from crosswire.ir import UpstreamProtocolError

    decoder = CODEC.stream_decoder(Request(model="m"), Report())
    with pytest.raises(UpstreamProtocolError):
        decoder.feed(b"data: {not json}\r\n\r\n")


def test_utf8_split_inside_characters_is_invariant() -> None:
    """Edge case 2: a CJK/emoji stream cut inside multi-byte characters."""
    body = sse(chunk([{"text": "東京は晴れ 🌤️"}]), chunk([{"text": "です"}], finish="STOP"))
    events = assert_split_invariant(
        lambda: CODEC.stream_decoder(Request(model="m"), Report()), body
    )
    assert accumulate(events).parts == (Text(text="東京は晴れ 🌤️です"),)


def test_decode_response_accepts_stream_bodies() -> None:
    """A whole-answer path given a stream body (edge case 7) folds it."""
    body = sse(chunk([{"text": "a"}]), chunk([{"text": "b"}], finish="STOP"))
    assert CODEC.decode_response(body, Report()).parts == (Text(text="ab"),)
    array = json.dumps([chunk([{"text": "a"}], finish="STOP")]).encode()
    assert CODEC.decode_response(array, Report()).parts == (Text(text="a"),)
