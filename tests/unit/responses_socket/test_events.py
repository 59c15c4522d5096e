"""Turning a turn's HTTP answer into the socket's text messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crosswire.responses_socket.events import (
    TurnEvents,
    error_event,
    http_error_event,
    warmup_events,
)
from tests.unit.streamsplit import splits

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai_responses"


def recording(name: str) -> bytes:
    return str(json.loads((FIXTURES / name).read_text())["response"]["body"]).encode()


def run(chunks: list[bytes], stream_id: str | None = None) -> tuple[TurnEvents, list[Any]]:
    turn = TurnEvents(stream_id)
    texts = [t for c in chunks for t in turn.feed(c)] + turn.flush()
    return turn, [json.loads(t) for t in texts]


@pytest.mark.parametrize("name", ["stream_text_basic.json", "stream_function_call.json"])
def test_every_sse_event_becomes_one_message_in_order(name: str) -> None:
    body = recording(name)
    turn, events = run([body])
    expected = [
        json.loads(line[5:])
        for line in body.decode().splitlines()
        if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]
    assert events == expected
    assert turn.terminal == "response.completed" and turn.continuable
    assert turn.response_id == expected[-1]["response"]["id"]
    assert turn.output == expected[-1]["response"]["output"]


def test_any_chunking_gives_the_same_messages() -> None:
    body = recording("stream_function_call.json")
    _, whole = run([body])
    for chunks in splits(body, every=False):
        assert run(chunks)[1] == whole


def test_raw_event_text_goes_out_unchanged() -> None:
    sse = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",  "delta":"x"}\n\n'
    assert TurnEvents().feed(sse) == ['{"type":"response.output_text.delta",  "delta":"x"}']


def test_output_falls_back_to_the_done_items_when_completed_carries_none() -> None:
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    sse = (
        "data: "
        + json.dumps({"type": "response.output_item.done", "output_index": 0, "item": item})
        + "\n\ndata: "
        + json.dumps({"type": "response.completed", "response": {"id": "resp_x", "output": []}})
        + "\n\n"
    ).encode()
    turn, _ = run([sse])
    assert turn.output == [item] and turn.response_id == "resp_x"


def test_a_stream_cut_short_ends_with_an_error_event() -> None:
    sse = b'data: {"type":"response.created","response":{"id":"resp_c"}}\n\n'
    turn, events = run([sse])
    assert events[-1]["type"] == "error" and events[-1]["status"] == 502
    assert "before it was complete" in events[-1]["error"]["message"]
    assert not turn.continuable


def test_a_failed_stream_is_relayed_and_not_continuable() -> None:
    sse = (
        b'data: {"type":"error","code":"server_error","message":"boom"}\n\n'
        b'data: {"type":"response.failed","response":{"id":"resp_f","status":"failed"}}\n\n'
    )
    turn, events = run([sse])
    assert [e["type"] for e in events] == ["error", "response.failed"]
    assert turn.terminal == "error" and not turn.continuable


def test_stream_id_is_echoed_on_every_event() -> None:
    _, events = run([recording("stream_text_basic.json")], stream_id="lane")
    assert {e["stream_id"] for e in events} == {"lane"}


def test_non_json_data_and_done_markers_are_skipped() -> None:
    sse = b"data: [DONE]\n\ndata: not json\n\n: comment\n\n"
    assert TurnEvents().feed(sse) == []


def test_http_errors_become_the_socket_error_shape() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Rate limit reached",
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded",
                "param": None,
            }
        }
    ).encode()
    event = http_error_event(429, {"retry-after": "3", "x-other": "1"}, body)
    assert event == {
        "type": "error",
        "status": 429,
        "error": {
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached",
            "param": None,
            "headers": {"retry-after": "3"},
        },
        "headers": {"retry-after": "3"},
    }


def test_non_json_http_errors_still_say_something() -> None:
    event = http_error_event(502, {}, b"<html><title>Bad gateway</title></html>")
    assert event["status"] == 502 and event["error"]["type"] == "server_error"
    assert event["error"]["message"]


def test_error_event_types_follow_the_status() -> None:
    assert error_event(400, "x")["error"]["type"] == "invalid_request_error"
    assert error_event(401, "x")["error"]["type"] == "authentication_error"
    assert error_event(500, "x")["error"]["type"] == "server_error"
    assert "headers" not in error_event(400, "x")


def test_a_warmup_is_created_then_completed_with_no_output() -> None:
    events = warmup_events("gpt-5", "resp_warm")
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    done = events[-1]["response"]
    assert done["id"] == "resp_warm" and done["status"] == "completed" and done["output"] == []
    assert done["model"] == "gpt-5"
    turn = TurnEvents()
    for e in events:
        turn.add(e)
    assert turn.continuable and turn.response_id == "resp_warm" and turn.output == []


def test_warmup_events_validate_against_the_sdk() -> None:
    from openai.types.responses import ResponseCompletedEvent, ResponseCreatedEvent

    created, _, completed = warmup_events("gpt-5", "resp_w")
    ResponseCreatedEvent.model_validate(created)
    ResponseCompletedEvent.model_validate(completed)
