"""The upstream's Responses event stream → IR events (edges 1-3, 10, 11, 15, 26)."""

from __future__ import annotations

from typing import Any

from crosswire import ir
from tests.unit.protocols.openai_responses.support import C, decode_stream, shape, sse
from tests.unit.streamsplit import assert_split_invariant

CREATED = {
    "type": "response.created",
    "response": {"id": "resp_1", "model": "gpt-5", "created_at": 7},
}


def _completed(status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "type": "response.completed" if status == "completed" else "response.incomplete",
        "response": {
            "id": "resp_1",
            "status": status,
            "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
            **extra,
        },
    }


def _call_added(index: int, fc: str, call: str, name: str = "f") -> dict[str, Any]:
    return {
        "type": "response.output_item.added",
        "output_index": index,
        "item": {"type": "function_call", "id": fc, "call_id": call, "name": name, "arguments": ""},
    }


def _call_done(index: int, fc: str, call: str, arguments: str, name: str = "f") -> dict[str, Any]:
    return {
        "type": "response.output_item.done",
        "output_index": index,
        "item": {
            "type": "function_call",
            "id": fc,
            "call_id": call,
            "name": name,
            "arguments": arguments,
        },
    }


def _events(*wire: dict[str, Any]) -> list[ir.Event]:
    return assert_split_invariant(
        lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()), sse(*wire)
    )


def test_text_streams_as_deltas_and_finishes_with_usage() -> None:
    events = _events(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []},
        },
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "part": {"type": "output_text", "text": ""},
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "delta": "Hel",
            "obfuscation": "xx",
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "delta": "lo ✓",
        },
        {
            "type": "response.output_text.done",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "text": "Hello ✓",
        },
        {
            "type": "response.content_part.done",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "part": {"type": "output_text", "text": "Hello ✓"},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1"},
        },
        _completed(),
    )
    assert events == [
        ir.ResponseStart(id="resp_1", model="gpt-5", created=7),
        ir.PartStart(
            index=0, part=ir.Text(text="", native={"openai-responses": {"item_id": "msg_1"}})
        ),
        ir.PartDelta(index=0, kind="text", text="Hel"),
        ir.PartDelta(index=0, kind="text", text="lo ✓"),
        ir.PartEnd(index=0),
        ir.StreamFinish(
            finish=ir.Finish(reason="stop", raw="completed"),
            usage=ir.Usage(input_tokens=10, output_tokens=5),
        ),
    ]


def test_arguments_that_arrive_only_in_done_are_still_forwarded() -> None:
    """Edge 26, both places a server may put them."""
    events = _events(
        CREATED,
        _call_added(0, "fc_1", "call_1"),
        {
            "type": "response.function_call_arguments.done",
            "output_index": 0,
            "item_id": "fc_1",
            "arguments": '{"a":1}',
        },
        _call_done(0, "fc_1", "call_1", '{"a":1}'),
        _call_added(1, "fc_2", "call_2", "g"),
        _call_done(1, "fc_2", "call_2", '{"b":2}', "g"),
        _completed(),
    )
    response = ir.accumulate(events)
    assert shape(response.parts) == [
        ("call", "call_1", "f", '{"a":1}'),
        ("call", "call_2", "g", '{"b":2}'),
    ]
    assert response.finish.reason == "tool_calls"
    assert response.parts[0].native == {"openai-responses": {"id": "fc_1"}}


def test_argument_fragments_are_forwarded_as_they_arrive() -> None:
    """Edge 15: never buffer a whole argument."""
    decoder = C.stream_decoder(ir.Request(model="m"), ir.Report())
    decoder.feed(sse(CREATED, _call_added(0, "fc_1", "call_1")))
    out = decoder.feed(
        sse(
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "item_id": "fc_1",
                "delta": '{"a',
            }
        )
    )
    assert out == [ir.PartDelta(index=0, kind="arguments", text='{"a')]


def test_interleaved_items_are_released_in_order_one_part_at_a_time() -> None:
    """The IR promise holds even if a server interleaves two calls."""
    events = _events(
        CREATED,
        _call_added(0, "fc_1", "call_1"),
        _call_added(1, "fc_2", "call_2", "g"),
        {
            "type": "response.function_call_arguments.delta",
            "output_index": 1,
            "item_id": "fc_2",
            "delta": '{"b"',
        },
        {
            "type": "response.function_call_arguments.delta",
            "output_index": 0,
            "item_id": "fc_1",
            "delta": '{"a":1}',
        },
        {
            "type": "response.function_call_arguments.delta",
            "output_index": 1,
            "item_id": "fc_2",
            "delta": ":2}",
        },
        _call_done(1, "fc_2", "call_2", '{"b":2}', "g"),
        _call_done(0, "fc_1", "call_1", '{"a":1}'),
        _completed(),
    )
    starts = [e.index for e in events if isinstance(e, ir.PartStart)]
    ends = [e.index for e in events if isinstance(e, ir.PartEnd)]
    assert starts == [0, 1] and ends == [0, 1]
    assert events.index(ir.PartEnd(index=0)) < events.index(
        next(e for e in events if isinstance(e, ir.PartStart) and e.index == 1)
    )
    assert shape(ir.accumulate(events).parts) == [
        ("call", "call_1", "f", '{"a":1}'),
        ("call", "call_2", "g", '{"b":2}'),
    ]


def test_reasoning_summaries_stream_and_the_final_encrypted_content_follows() -> None:
    """Edge 70: the encrypted_content of ``added`` is provisional; ``done`` has the real one."""
    rs = {"output_index": 0, "item_id": "rs_1"}
    events = _events(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "encrypted_content": "PARTIAL",
            },
        },
        {
            "type": "response.reasoning_summary_part.added",
            **rs,
            "summary_index": 0,
            "part": {"type": "summary_text", "text": ""},
        },
        {"type": "response.reasoning_summary_text.delta", **rs, "summary_index": 0, "delta": "one"},
        {"type": "response.reasoning_summary_text.done", **rs, "summary_index": 0, "text": "one"},
        {
            "type": "response.reasoning_summary_part.done",
            **rs,
            "summary_index": 0,
            "part": {"type": "summary_text", "text": "one"},
        },
        {
            "type": "response.reasoning_summary_part.added",
            **rs,
            "summary_index": 1,
            "part": {"type": "summary_text", "text": ""},
        },
        {"type": "response.reasoning_summary_text.done", **rs, "summary_index": 1, "text": "two"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [
                    {"type": "summary_text", "text": "one"},
                    {"type": "summary_text", "text": "two"},
                ],
                "encrypted_content": "FINAL",
            },
        },
        _completed(),
    )
    assert ir.PartDelta(index=0, kind="reasoning", text="one") in events
    parts = ir.accumulate(events).parts
    assert shape(parts) == [
        ("reasoning", "one\n\ntwo", False, "openai-responses"),
        ("reasoning", "", True, "openai-responses"),
    ]
    assert isinstance(parts[1], ir.Reasoning) and parts[1].redacted == "FINAL"


def test_open_model_reasoning_text_streams_as_reasoning() -> None:
    rs = {"output_index": 0, "item_id": "rs_1", "content_index": 0}
    events = _events(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1", "summary": []},
        },
        {"type": "response.reasoning_text.delta", **rs, "delta": "think"},
        {"type": "response.reasoning_text.delta", **rs, "delta": "ing"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "thinking"}],
            },
        },
        _completed(),
    )
    assert shape(ir.accumulate(events).parts) == [
        ("reasoning", "thinking", False, "openai-responses")
    ]


def test_server_tool_items_become_opaque_parts_at_done() -> None:
    item = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search"},
    }
    events = _events(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "web_search_call", "id": "ws_1", "status": "in_progress"},
        },
        {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        _completed(),
    )
    assert ir.accumulate(events).parts == (ir.Opaque(origin="openai-responses", data=item),)


def test_text_sent_only_in_done_events_is_still_forwarded() -> None:
    events = _events(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "content": []},
        },
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "part": {"type": "output_text", "text": ""},
        },
        {
            "type": "response.content_part.done",
            "output_index": 0,
            "item_id": "msg_1",
            "content_index": 0,
            "part": {"type": "output_text", "text": "whole"},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1"},
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "type": "message",
                "id": "msg_2",
                "content": [{"type": "output_text", "text": "late"}],
            },
        },
        _completed(),
    )
    assert shape(ir.accumulate(events).parts) == [("text", "whole"), ("text", "late")]


def test_a_server_that_sends_only_the_final_object_still_yields_its_output() -> None:
    events = _events(
        _completed(
            output=[
                {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "hi"}]}
            ]
        )
    )
    assert shape(ir.accumulate(events).parts) == [("text", "hi")]
    assert isinstance(events[0], ir.ResponseStart)


def test_incomplete_finishes_with_length() -> None:
    """Edge 72."""
    events = _events(
        CREATED, _completed("incomplete", incomplete_details={"reason": "max_output_tokens"})
    )
    assert events[-1] == ir.StreamFinish(
        finish=ir.Finish(reason="length", raw="max_output_tokens"),
        usage=ir.Usage(input_tokens=10, output_tokens=5),
    )


def test_an_error_event_fails_the_stream_with_its_kind() -> None:
    """Edge 10: the wire nests the error; the SDK's model has it flat; both decode."""
    nested = {
        "type": "error",
        "error": {
            "type": "insufficient_quota",
            "code": "insufficient_quota",
            "message": "pay up",
            "param": None,
        },
    }
    failed = {
        "type": "response.failed",
        "response": {
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "insufficient_quota", "message": "pay up"},
        },
    }
    events = _events(CREATED, nested, failed)
    assert events[-1] == ir.StreamError(
        error=ir.Error(
            kind="quota_exhausted", message="pay up", status=429, code="insufficient_quota"
        )
    )
    flat = _events(
        CREATED,
        {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None},
    )
    last = flat[-1]
    assert (
        isinstance(last, ir.StreamError)
        and last.error.kind == "rate_limit"
        and last.error.status == 429
    )


def test_response_failed_alone_fails_the_stream() -> None:
    failed = {
        "type": "response.failed",
        "response": {
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "server_error", "message": "boom"},
        },
    }
    last = _events(CREATED, failed)[-1]
    assert isinstance(last, ir.StreamError)
    assert (last.error.kind, last.error.status, last.error.message) == ("api_error", 500, "boom")
    context = {
        "type": "response.failed",
        "response": {"error": {"code": "context_length_exceeded", "message": "too long"}},
    }
    error = _events(CREATED, context)[-1]
    assert isinstance(error, ir.StreamError) and error.error.kind == "invalid_request"
    assert error.error.code == "context_length_exceeded"


def test_eof_without_a_terminal_event_is_an_error() -> None:
    """Edge 11: an EOF is never a clean stop."""
    events = decode_stream(sse(CREATED, _call_added(0, "fc_1", "call_1")))
    assert isinstance(events[-1], ir.StreamError)
    assert "response.completed" in events[-1].error.message
    assert sum(isinstance(e, (ir.StreamError, ir.StreamFinish)) for e in events) == 1


def test_unknown_events_and_comments_are_ignored_and_later_frames_too() -> None:
    data = (
        b": keep-alive\n\n"
        + sse(CREATED, {"type": "response.something_new", "x": 1})
        + b"data: [DONE]\n\n"
        + sse(_completed(), {"type": "response.output_text.delta", "delta": "after"})
    )
    events = decode_stream(data)
    assert [type(e) for e in events] == [ir.ResponseStart, ir.StreamFinish]


def test_invalid_json_is_an_upstream_protocol_error() -> None:
    decoder = C.stream_decoder(ir.Request(model="m"), ir.Report())
    try:
        decoder.feed(b"data: {not json\n\n")
    except ir.UpstreamProtocolError as exc:
        assert "invalid JSON" in str(exc)
    else:
        raise AssertionError("expected UpstreamProtocolError")


def test_deltas_that_name_no_item_join_the_current_one() -> None:
    events = _events(
        CREATED,
        {"type": "response.output_text.delta", "delta": "a"},
        {"type": "response.output_text.delta", "delta": "b"},
        _completed(),
    )
    assert shape(ir.accumulate(events).parts) == [("text", "ab")]
