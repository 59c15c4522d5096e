"""The upstream stream decoder: framing, tool-call buffering, finish and usage, errors."""

from __future__ import annotations

import json

import pytest

from crosswire import ir
from tests.unit.protocols.openai_chat.support import (
    C,
    call_delta,
    chunk,
    decode_stream,
    sse,
)
from tests.unit.streamsplit import assert_split_invariant

USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def _calls(response: ir.Response) -> list[tuple[str, str, str]]:
    return [(p.id, p.name, p.arguments) for p in response.parts if isinstance(p, ir.ToolCall)]


def _decoder() -> object:
    return C.stream_decoder(ir.Request(model="m"), ir.Report())


def test_multibyte_text_crlf_and_comments_survive_every_split() -> None:
    """EDGE 1–4: CJK and emoji cut anywhere, CRLF line ends, keep-alive comments."""
    body = (
        b": OPENROUTER PROCESSING\r\n\r\n"
        + sse(
            [chunk({"role": "assistant", "content": "日本語"}), chunk({"content": "🎉 ok"})],
            done=False,
        ).replace(b"\n", b"\r\n")
        + b"data: "
        + json.dumps(chunk({}, "stop"), ensure_ascii=False).encode()
        + b"\r\n\r\ndata: [DONE]\r\n\r\n"
    )
    events = assert_split_invariant(_decoder, body)  # type: ignore[arg-type, return-value]
    response = ir.accumulate(events)
    assert response.parts == (ir.Text(text="日本語🎉 ok"),)
    assert response.finish.reason == "stop"


def test_azure_prompt_filter_chunk_is_metadata_and_the_real_id_starts_the_response() -> None:
    """EDGE 9."""
    filter_chunk = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [],
    }
    events = decode_stream(sse([filter_chunk, chunk({"content": "hi"}), chunk({}, "stop")]))
    assert events[0] == ir.ResponseStart(id="chatcmpl-1", model="m", created=1700000000)


def test_finish_is_held_until_the_usage_chunk_and_carries_the_usage() -> None:
    """EDGE 24: OpenAI sends usage in a final choices:[] chunk after the finish_reason."""
    body = sse(
        [
            chunk({"content": "a"}),
            chunk({}, "stop"),
            {"id": "chatcmpl-1", "choices": [], "usage": USAGE},
        ]
    )
    decoder = C.stream_decoder(ir.Request(model="m"), ir.Report())
    first = decoder.feed(body[: body.index(b'"usage"')])
    assert not any(isinstance(e, ir.StreamFinish) for e in first)
    rest = decoder.feed(body[body.index(b'"usage"') :]) + decoder.flush()
    finishes = [e for e in rest if isinstance(e, ir.StreamFinish)]
    assert finishes == [
        ir.StreamFinish(
            finish=ir.Finish(reason="stop", raw="stop"),
            usage=ir.Usage(input_tokens=9, output_tokens=3),
        )
    ]


def test_usage_on_the_finish_chunk_finishes_at_once() -> None:
    """Mistral puts usage on the last content chunk; nothing after it is needed."""
    decoder = C.stream_decoder(ir.Request(model="m"), ir.Report())
    events = decoder.feed(
        sse([chunk({"content": "a"}), chunk({}, "stop", usage=USAGE)], done=False)
    )
    assert isinstance(events[-1], ir.StreamFinish) and events[-1].usage.output_tokens == 3
    assert decoder.flush() == []


def test_eof_without_done_is_an_error() -> None:
    """EDGE 11: a cut stream is never a clean stop, even after a finish_reason."""
    for body in (
        sse([chunk({"content": "Hel"})], done=False),
        sse([chunk({"content": "a"}), chunk({}, "stop")], done=False),
    ):
        events = decode_stream(body)
        assert isinstance(events[-1], ir.StreamError) and events[-1].error.status == 502
        assert isinstance(events[-2], ir.PartEnd)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        ({"message": "Provider returned error", "code": 502}, 502, "unavailable"),
        ({"message": "slow down", "type": "rate_limit_error"}, 429, "rate_limit"),
        (
            {"message": "pay", "type": "insufficient_quota", "code": "insufficient_quota"},
            429,
            "quota_exhausted",
        ),
        ({"message": "oops", "type": "server_error"}, 500, "api_error"),
        ("plain text", 500, "api_error"),
    ],
)
def test_in_band_error_chunks_become_stream_errors(error: object, status: int, kind: str) -> None:
    """EDGE 10: OpenRouter (numeric code, empty choices) and OpenAI-style error chunks."""
    events = decode_stream(
        sse([chunk({"content": "par"}), {"error": error, "choices": []}], done=False)
    )
    assert isinstance(events[-1], ir.StreamError)
    assert (events[-1].error.status, events[-1].error.kind) == (status, kind)
    assert isinstance(events[-2], ir.PartEnd)


def test_error_before_anything_started_has_no_response_start() -> None:
    events = decode_stream(sse([{"error": {"message": "overloaded", "code": 529}}], done=False))
    assert len(events) == 1 and isinstance(events[0], ir.StreamError)
    assert events[0].error.status == 529


def test_tool_fragments_are_forwarded_as_they_arrive() -> None:
    """EDGE 15: never buffer a whole argument."""
    decoder = C.stream_decoder(ir.Request(model="m"), ir.Report())
    decoder.feed(sse([chunk(call_delta(0, "", "c1", "f"))], done=False))
    events = decoder.feed(sse([chunk(call_delta(0, '{"path": "a'))], done=False))
    assert events == [ir.PartDelta(index=0, kind="arguments", text='{"path": "a')]


def test_empty_content_and_reasoning_inside_a_tool_call_do_not_close_it() -> None:
    """EDGE 16: empty content deltas are ignored; reasoning waits until the call is complete."""
    events = decode_stream(
        sse(
            [
                chunk({"role": "assistant", "content": "", **call_delta(0, "", "c1", "f")}),
                chunk({"content": "", **call_delta(0, '{"a":')}),
                chunk({"reasoning_content": "hmm"}),
                chunk(call_delta(0, "1}")),
                chunk({}, "tool_calls"),
            ]
        )
    )
    response = ir.accumulate(events)
    assert response.parts == (
        ir.ToolCall(id="c1", name="f", arguments='{"a":1}'),
        ir.Reasoning(text="hmm", origin="openai-chat"),
    )
    assert response.finish.reason == "tool_calls"


def test_interleaved_parallel_calls_are_buffered_into_one_part_each() -> None:
    """EDGE 20: fragments of two calls interleaved by index; the second is queued while the
    first is incomplete, then released in order."""
    body = sse(
        [
            chunk(call_delta(0, '{"a":', "c1", "f")),
            chunk(call_delta(1, '{"b":', "c2", "g")),
            chunk(call_delta(1, "2}")),
            chunk(call_delta(0, "1}")),
            chunk({}, "tool_calls"),
        ]
    )
    events = assert_split_invariant(_decoder, body)  # type: ignore[arg-type, return-value]
    response = ir.accumulate(events)
    assert _calls(response) == [("c1", "f", '{"a":1}'), ("c2", "g", '{"b":2}')]
    starts = [e.index for e in events if isinstance(e, ir.PartStart)]
    assert starts == [0, 1]


def test_sequential_parallel_calls_switch_when_the_next_index_starts() -> None:
    """EDGE 20, 22: OpenAI's usual order; a call whose first fragment is "{" with the name;
    a call with no arguments at all followed by another call."""
    response = ir.accumulate(
        decode_stream(
            sse(
                [
                    chunk(call_delta(0, "", "c0", "noargs")),
                    chunk(call_delta(1, "{", "c1", "f")),
                    chunk(call_delta(1, '"x": 1}')),
                    chunk(call_delta(2, "", "c2", "g")),
                    chunk({}, "tool_calls"),
                    {"id": "chatcmpl-1", "choices": [], "usage": USAGE},
                ]
            )
        )
    )
    assert _calls(response) == [("c0", "noargs", ""), ("c1", "f", '{"x": 1}'), ("c2", "g", "")]
    assert response.usage.input_tokens == 9


def test_every_call_at_index_zero_is_told_apart_by_id() -> None:
    """EDGE 20: Ollama sends index 0 for every call."""
    response = ir.accumulate(
        decode_stream(
            sse(
                [
                    chunk(call_delta(0, '{"a":1}', "c1", "f")),
                    chunk(call_delta(0, '{"a":2}', "c2", "f")),
                    chunk({}, "stop"),
                ]
            )
        )
    )
    assert _calls(response) == [("c1", "f", '{"a":1}'), ("c2", "f", '{"a":2}')]
    assert response.finish == ir.Finish(reason="tool_calls", raw="stop")


def test_call_without_id_gets_a_derived_one_and_waits_for_its_name() -> None:
    response = ir.accumulate(
        decode_stream(
            sse(
                [
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}),
                    chunk(
                        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}
                    ),
                    chunk({}, "tool_calls"),
                ]
            )
        )
    )
    (call,) = response.parts
    assert isinstance(call, ir.ToolCall) and call.name == "f" and call.id.startswith("call_")


def test_text_after_a_complete_call_opens_a_new_part() -> None:
    response = ir.accumulate(
        decode_stream(
            sse(
                [
                    chunk(call_delta(0, "{}", "c1", "f")),
                    chunk({"content": "done"}),
                    chunk({}, "stop"),
                ]
            )
        )
    )
    assert response.parts == (ir.ToolCall(id="c1", name="f", arguments="{}"), ir.Text(text="done"))


def test_late_fragment_of_a_closed_call_is_reported() -> None:
    report = ir.Report()
    decoder = C.stream_decoder(ir.Request(model="m"), report)
    body = sse(
        [
            chunk(call_delta(0, "", "c1", "f")),
            chunk(call_delta(1, "{}", "c2", "g")),
            chunk(call_delta(0, '{"late": true}')),
            chunk({}, "tool_calls"),
        ]
    )
    events = decoder.feed(body) + decoder.flush()
    assert _calls(ir.accumulate(events)) == [("c1", "f", ""), ("c2", "g", "{}")]
    assert "tool_calls arguments" in report.dropped_fields


def test_reasoning_fields_and_mistral_thinking_chunks() -> None:
    """EDGE 67: reasoning_content, OpenRouter reasoning and Mistral thinking chunks are
    reasoning parts; Mistral's ``p`` padding and OpenAI's obfuscation are ignored."""
    body = sse(
        [
            chunk({"role": "assistant", "content": ""}, p="abc"),
            chunk(
                {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Okay"}]}]}
            ),
            chunk({"reasoning": ", so"}, obfuscation="xyz"),
            chunk({"content": [{"type": "text", "text": "Answer"}]}),
            chunk({"content": "."}, "stop", usage=USAGE),
        ]
    )
    response = ir.accumulate(decode_stream(body))
    assert response.parts == (
        ir.Reasoning(text="Okay, so", origin="openai-chat"),
        ir.Text(text="Answer."),
    )


def test_refusal_deltas_are_a_refusal_text_part() -> None:
    response = ir.accumulate(
        decode_stream(
            sse([chunk({"refusal": "I can't"}), chunk({"refusal": " help"}), chunk({}, "stop")])
        )
    )
    assert response.parts == (
        ir.Text(text="I can't help", native={"openai-chat": {"refusal": True}}),
    )


def test_other_choices_are_ignored() -> None:
    other = chunk({"content": "B"})
    other["choices"][0]["index"] = 1
    response = ir.accumulate(
        decode_stream(sse([chunk({"content": "A"}), other, chunk({}, "stop")]))
    )
    assert response.parts == (ir.Text(text="A"),)


def test_legacy_function_call_deltas() -> None:
    response = ir.accumulate(
        decode_stream(
            sse(
                [
                    chunk({"function_call": {"name": "f", "arguments": ""}}),
                    chunk({"function_call": {"arguments": "{}"}}),
                    chunk({}, "function_call"),
                ]
            )
        )
    )
    (call,) = response.parts
    assert isinstance(call, ir.ToolCall) and (call.name, call.arguments) == ("f", "{}")
    assert response.finish.reason == "tool_calls"


def test_vllm_stop_reason_in_a_stream() -> None:
    """EDGE 75."""
    last = chunk({}, "stop")
    last["choices"][0]["stop_reason"] = "###"
    finish = ir.accumulate(decode_stream(sse([chunk({"content": "a"}), last]))).finish
    assert finish == ir.Finish(reason="stop_sequence", raw="stop", stop_sequence="###")


def test_invalid_json_in_a_chunk_is_an_upstream_protocol_error() -> None:
    with pytest.raises(ir.UpstreamProtocolError):
        decode_stream(b"data: {not json\n\n")


def test_done_alone_still_starts_and_finishes() -> None:
    events = decode_stream(b"data: [DONE]\n\n")
    assert isinstance(events[0], ir.ResponseStart) and isinstance(events[1], ir.StreamFinish)
