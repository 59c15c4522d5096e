"""Every recorded Responses exchange through the codec, both directions (edges 11, 25, 26, 76).

Requests decode and re-encode; answers decode, and streams decode the same whatever the
chunking, accumulate to what ``response.completed`` says, and re-encode into event streams the
openai SDK validates event by event and accumulates itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai import omit
from openai._models import construct_type_unchecked
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response

from crosswire import ir
from tests.unit.protocols.openai_responses.support import (
    CALL,
    EVENT,
    FIXTURES,
    STREAM_EVENT,
    TARGET,
    C,
    decode_stream,
    encode_stream,
    shape,
    sse_events,
)
from tests.unit.streamsplit import assert_split_invariant

STREAMS = [p for p in FIXTURES if json.loads(p.read_text())["stream"]]
WHOLE = [
    p
    for p in FIXTURES
    if not json.loads(p.read_text())["stream"]
    and json.loads(p.read_text())["response"]["status"] < 400
]
ERRORS = [p for p in FIXTURES if json.loads(p.read_text())["response"]["status"] >= 400]


def _load(path: Path) -> dict[str, Any]:
    rec: dict[str, Any] = json.loads(path.read_text())
    return rec


def _request(rec: dict[str, Any]) -> ir.Request:
    body = dict(rec["request"]["body"])
    body.pop("previous_response_id", None)  # refused on its own (edge 93), tested elsewhere
    return C.decode_request(CALL, json.dumps(body).encode(), ir.Report())


def _sdk_passthrough_item(event: dict[str, Any]) -> bool:
    """A web_search_call item recorded from the API that the SDK's model does not accept
    (``sources[].type == "api"``); the codec passes upstream items through unchanged."""
    return "oai-weather" in json.dumps(event)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_recorded_request_decodes_and_reencodes_stably(path: Path) -> None:
    request = _request(_load(path))
    first = C.encode_request(request, TARGET, ir.Report())
    again = C.decode_request(CALL, first.body, ir.Report())
    second = C.encode_request(again, TARGET, ir.Report())
    assert json.loads(second.body) == json.loads(first.body)
    assert first.path == "/responses"


@pytest.mark.parametrize("path", WHOLE, ids=[p.name for p in WHOLE])
def test_recorded_answer_decodes_and_encodes_for_the_sdk(path: Path) -> None:
    rec = _load(path)
    response = C.decode_response(rec["response"]["body"].encode(), ir.Report())
    recorded = json.loads(rec["response"]["body"])
    assert response.id == recorded["id"]
    assert response.usage.input_tokens == recorded["usage"]["input_tokens"]
    assert response.usage.output_tokens == recorded["usage"]["output_tokens"]
    body = C.encode_response(CALL, _request(rec), response, ir.Report())
    sdk = Response.model_validate_json(body)
    assert sdk.id == recorded["id"]
    again = C.decode_response(body, ir.Report())
    assert shape(again.parts) == shape(response.parts)
    assert again.finish == response.finish and again.usage == response.usage


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_recorded_stream_is_split_invariant_and_accumulates_to_the_completed_response(
    path: Path,
) -> None:
    """Edges 1-3 (any chunking) and 11 (the terminal event is response.completed)."""
    rec = _load(path)
    body = rec["response"]["body"].encode()
    events = assert_split_invariant(lambda: C.stream_decoder(_request(rec), ir.Report()), body)
    assert isinstance(events[0], ir.ResponseStart)
    assert isinstance(events[-1], ir.StreamFinish)
    completed = next(
        data["response"] for _, data in sse_events(body) if data["type"] == "response.completed"
    )
    whole = C.decode_response(json.dumps(completed).encode(), ir.Report())
    streamed = ir.accumulate(events)
    assert shape(streamed.parts) == shape(whole.parts)
    assert streamed.finish == whole.finish
    assert streamed.usage == whole.usage
    assert streamed.id == completed["id"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # the SDK re-serialising the web search item
@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_recorded_stream_reencodes_into_events_the_sdk_accepts(path: Path) -> None:
    """Edge 25: the full lifecycle, monotonic sequence numbers, SSE event names."""
    rec = _load(path)
    request = _request(rec)
    events = decode_stream(rec["response"]["body"].encode(), request)
    out = encode_stream(events, request)
    wire = sse_events(out)
    assert [d["sequence_number"] for _, d in wire] == list(range(len(wire)))
    assert all(name == d["type"] for name, d in wire)
    assert [d["type"] for _, d in wire][:2] == ["response.created", "response.in_progress"]
    assert wire[-1][1]["type"] == "response.completed"
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for _, data in wire:
        if not _sdk_passthrough_item(data):
            EVENT.validate_python(data)
        state.handle_event(construct_type_unchecked(value=data, type_=STREAM_EVENT))
    again = ir.accumulate(decode_stream(out, request))
    assert shape(again.parts) == shape(ir.accumulate(events).parts)
    final = wire[-1][1]["response"]
    assert final["usage"]["input_tokens"] == ir.accumulate(events).usage.input_tokens
    assert len(final["output"]) == len(
        [d for _, d in wire if d["type"] == "response.output_item.done"]
    )


@pytest.mark.parametrize("path", ERRORS, ids=[p.name for p in ERRORS])
def test_recorded_error_keeps_its_status_and_code(path: Path) -> None:
    rec = _load(path)
    body = rec["response"]["body"].encode()
    error = C.decode_error(rec["response"]["status"], rec["response"]["headers"], body)
    recorded = json.loads(body)["error"]
    assert error.status == rec["response"]["status"]
    assert error.message == recorded["message"]
    assert error.code == (recorded.get("code") or recorded.get("type"))
    encoded = C.encode_error(CALL, error)
    assert encoded.status == error.status
    assert json.loads(encoded.body)["error"]["message"] == recorded["message"]


def test_context_length_error_is_an_invalid_request_with_its_code() -> None:
    path = next(p for p in ERRORS if "context_length" in p.name)
    rec = _load(path)
    error = C.decode_error(400, rec["response"]["headers"], rec["response"]["body"].encode())
    assert error.kind == "invalid_request" and error.code == "context_length_exceeded"
