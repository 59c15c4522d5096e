"""IR events → the app's Responses event stream (edges 10, 25, 26, 61, 70, 72)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import omit
from openai._models import construct_type_unchecked
from openai.lib.streaming.responses._responses import ResponseStreamState

from crosswire import ir
from tests.unit.protocols.openai_responses.support import (
    CALL,
    EVENT,
    STREAM_EVENT,
    C,
    decode_stream,
    encode_stream,
    shape,
    sse_events,
)

START = ir.ResponseStart(id="resp_abc", model="gpt-x", created=100, usage=ir.Usage(input_tokens=9))
FINISH = ir.StreamFinish(
    finish=ir.Finish(reason="stop"), usage=ir.Usage(input_tokens=9, output_tokens=4)
)


def _wire(events: list[ir.Event], report: ir.Report | None = None) -> list[dict[str, Any]]:
    out = encode_stream(events, report=report)
    wire = sse_events(out)
    assert [name for name, _ in wire] == [d["type"] for _, d in wire]
    data = [d for _, d in wire]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    for d in data:
        EVENT.validate_python(d)
    return data


def _types(data: list[dict[str, Any]]) -> list[str]:
    return [d["type"].removeprefix("response.") for d in data]


def _sdk_final(data: list[dict[str, Any]]) -> Any:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for d in data:
        for out in state.handle_event(construct_type_unchecked(value=d, type_=STREAM_EVENT)):
            if out.type == "response.completed":
                final = out.response
    return final


def test_text_follows_the_full_lifecycle() -> None:
    """Edge 25: created → in_progress → item added → content part → deltas → done events →
    completed with id, object, model, the whole output and usage."""
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Text(text="")),
            ir.PartDelta(index=0, kind="text", text="Hel"),
            ir.PartDelta(index=0, kind="text", text="lo"),
            ir.PartEnd(index=0),
            FINISH,
        ]
    )
    assert _types(data) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    final = data[-1]["response"]
    assert final["id"] == "resp_abc" and final["object"] == "response" and final["model"] == "gpt-x"
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["input_tokens"] == 9 and final["usage"]["total_tokens"] == 13
    item_id = data[2]["item"]["id"]
    assert all(d["item_id"] == item_id for d in data[3:8])
    assert _sdk_final(data).output_text == "Hello"


def test_consecutive_text_parts_share_a_message_with_their_own_content_index() -> None:
    """Edge 25: content_index is the position within the item."""
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Text(text="a")),
            ir.PartEnd(index=0),
            ir.PartStart(index=1, part=ir.Text(text="b")),
            ir.PartEnd(index=1),
            FINISH,
        ]
    )
    assert [d["content_index"] for d in data if d["type"] == "response.output_text.delta"] == [0, 1]
    assert {d["output_index"] for d in data if "output_index" in d} == {0}
    assert [c["text"] for c in data[-1]["response"]["output"][0]["content"]] == ["a", "b"]


def test_function_calls_have_fc_ids_distinct_from_call_ids() -> None:
    """Edge 26: added carries ``arguments: ""``, deltas follow, then ``.done``."""
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Text(text="let me check")),
            ir.PartEnd(index=0),
            ir.PartStart(index=1, part=ir.ToolCall(id="toolu_1", name="f")),
            ir.PartDelta(index=1, kind="arguments", text='{"a":'),
            ir.PartDelta(index=1, kind="arguments", text="1}"),
            ir.PartEnd(index=1),
            ir.PartStart(index=2, part=ir.ToolCall(id="toolu_2", name="g")),
            ir.PartEnd(index=2),
            ir.StreamFinish(finish=ir.Finish(reason="tool_calls")),
        ]
    )
    added = [d for d in data if d["type"] == "response.output_item.added"]
    assert [d["output_index"] for d in added] == [0, 1, 2]
    call = added[1]["item"]
    assert call["id"].startswith("fc_") and call["call_id"] == "toolu_1" and call["arguments"] == ""
    arg_done = [d for d in data if d["type"] == "response.function_call_arguments.done"]
    assert [d["arguments"] for d in arg_done] == ['{"a":1}', "{}"]
    deltas = [d for d in data if d["type"] == "response.function_call_arguments.delta"]
    assert all(d["item_id"] == call["id"] for d in deltas)
    output = data[-1]["response"]["output"]
    assert [o["type"] for o in output] == ["message", "function_call", "function_call"]
    # the message item closes before the call item opens
    assert _types(data).index("output_item.done") < _types(data).index(
        "function_call_arguments.delta"
    )
    final = _sdk_final(data)
    assert [o.type for o in final.output] == ["message", "function_call", "function_call"]


def test_reasoning_streams_as_a_summary_and_ends_with_encrypted_content() -> None:
    """Edge 70: the summary streams live; encrypted_content is on ``output_item.done``."""
    native = {"openai-responses": {"id": "rs_1"}}
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Reasoning(origin="openai-responses", native=native)),
            ir.PartDelta(index=0, kind="reasoning", text="plan"),
            ir.PartEnd(index=0),
            ir.PartStart(
                index=1,
                part=ir.Reasoning(redacted="gAAA", origin="openai-responses", native=native),
            ),
            ir.PartEnd(index=1),
            ir.PartStart(index=2, part=ir.Text(text="ok")),
            ir.PartEnd(index=2),
            FINISH,
        ]
    )
    assert _types(data)[2:8] == [
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
    ]
    assert "encrypted_content" not in data[2]["item"]
    assert data[7]["item"] == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "plan"}],
        "encrypted_content": "gAAA",
    }


def test_anthropic_thinking_keeps_its_signature_in_an_envelope() -> None:
    """Edge 61: the signature delta arrives last and goes out with the item."""
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Reasoning(origin="anthropic")),
            ir.PartDelta(index=0, kind="reasoning", text="hmm"),
            ir.PartDelta(index=0, kind="signature", text="SIG"),
            ir.PartEnd(index=0),
            FINISH,
        ]
    )
    item = next(d for d in data if d["type"] == "response.output_item.done")["item"]
    assert item["encrypted_content"].startswith("crosswire.reasoning.v1.")
    echoed = C.decode_request(
        CALL,
        json.dumps({"model": "m", "input": [{"role": "user", "content": "q"}, item]}).encode(),
        ir.Report(),
    )
    assert echoed.messages[1].parts[0] == ir.Reasoning(
        text="hmm",
        signature="SIG",
        origin="anthropic",
        native={"openai-responses": {"id": item["id"]}},
    )


def test_empty_reasoning_leaves_no_item() -> None:
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Reasoning(origin="gemini")),
            ir.PartEnd(index=0),
            FINISH,
        ]
    )
    assert _types(data) == ["created", "in_progress", "completed"]


def test_a_length_finish_is_response_incomplete() -> None:
    """Edge 72."""
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.Text(text="cut")),
            ir.PartEnd(index=0),
            ir.StreamFinish(finish=ir.Finish(reason="length")),
        ]
    )
    assert data[-1]["type"] == "response.incomplete"
    assert data[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            ir.Error(kind="overloaded", message="Overloaded", status=529, code="overloaded_error"),
            "server_is_overloaded",
        ),
        (
            ir.Error(
                kind="invalid_request",
                message="too long",
                status=400,
                code="context_length_exceeded",
            ),
            "context_length_exceeded",
        ),
        (ir.Error(kind="quota_exhausted", message="pay", status=429), "insufficient_quota"),
        (ir.Error(kind="api_error", message="boom", status=500), "server_error"),
    ],
)
def test_a_stream_error_is_an_error_event_then_response_failed(error: ir.Error, code: str) -> None:
    """Edge 10: the error in the client's own framing; Codex reads ``response.failed``."""
    out = encode_stream(
        [START, ir.PartStart(index=0, part=ir.Text(text="partial")), ir.StreamError(error=error)]
    )
    data = [d for _, d in sse_events(out)]
    assert _types(data)[-2:] == ["error", "failed"]
    event, failed = data[-2], data[-1]
    assert event["code"] == code and event["message"] == error.message
    assert event["error"]["code"] == code  # the nested wire shape: the openai SDK raises on it
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == code
    EVENT.validate_python(event)
    if code in ("server_error",):
        EVENT.validate_python(failed)


def test_a_rate_limit_names_the_delay_codex_waits_for() -> None:
    error = ir.Error(kind="rate_limit", message="Slow down.", status=429, retry_after=1.5)
    data = [d for _, d in sse_events(encode_stream([START, ir.StreamError(error=error)]))]
    failed = data[-1]["response"]["error"]
    assert failed["code"] == "rate_limit_exceeded"
    assert failed["message"] == "Slow down. Please try again in 1.5s."
    EVENT.validate_python(data[-1])


def test_an_error_before_any_output_still_starts_the_response() -> None:
    data = [
        d
        for _, d in sse_events(encode_stream([ir.StreamError(error=ir.Error.of("api_error", "x"))]))
    ]
    assert _types(data) == ["created", "in_progress", "error", "failed"]


def test_nothing_is_written_after_the_end() -> None:
    encoder = C.stream_encoder(CALL, ir.Request(model="m"), ir.Report())
    for event in (START, FINISH):
        encoder.encode(event)
    assert encoder.encode(ir.PartStart(index=0, part=ir.Text(text="late"))) == b""
    assert encoder.close() == b""


def test_parts_the_wire_cannot_show_are_skipped_with_a_note() -> None:
    report = ir.Report()
    data = _wire(
        [
            START,
            ir.PartStart(index=0, part=ir.File(kind="image", data="iVBOR", media_type="image/png")),
            ir.PartEnd(index=0),
            ir.PartStart(
                index=1, part=ir.Opaque(origin="anthropic", data={"type": "server_tool_use"})
            ),
            ir.PartEnd(index=1),
            ir.PartStart(index=2, part=ir.Text(text="x")),
            ir.PartEnd(index=2),
            FINISH,
        ],
        report,
    )
    assert [o["type"] for o in data[-1]["response"]["output"]] == ["message"]
    assert set(report.dropped_fields) == {"image output", "server_tool_use"}


def test_a_replayed_whole_answer_streams_like_the_whole_encoding() -> None:
    """The stream and the whole answer agree item for item (ids included)."""
    response = ir.Response(
        id="resp_x",
        model="m",
        parts=(
            ir.Reasoning(
                text="r", origin="openai-responses", native={"openai-responses": {"id": "rs_1"}}
            ),
            ir.Reasoning(
                redacted="E", origin="openai-responses", native={"openai-responses": {"id": "rs_1"}}
            ),
            ir.Text(text="t"),
            ir.ToolCall(id="call_1", name="f", arguments='{"a":1}'),
        ),
        finish=ir.Finish(reason="tool_calls"),
        usage=ir.Usage(input_tokens=3, output_tokens=2),
        created=5,
    )
    request = ir.Request(model="m")
    streamed = sse_events(encode_stream(ir.replay(response), request))[-1][1]["response"]
    whole = json.loads(C.encode_response(CALL, request, response, ir.Report()))
    assert streamed == whole
    again = ir.accumulate(decode_stream(encode_stream(ir.replay(response), request)))
    assert shape(again.parts) == shape(response.parts)
