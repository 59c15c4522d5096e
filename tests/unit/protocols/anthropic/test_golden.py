"""The codec against every recorded Anthropic exchange (tests/fixtures/anthropic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from crosswire import ir
from crosswire.ir.grammar import check
from crosswire.protocols.anthropic.mapping import LEGACY_VERSION
from tests.unit.protocols.anthropic.support import (
    CALL,
    FILES,
    C,
    block_summary,
    decode_request,
    decode_stream,
    encode_request,
    encode_stream,
    load,
    recorded_stream,
    sdk_final_message,
    summary,
    wire_events,
)
from tests.unit.streamsplit import assert_split_invariant

STREAMS = [p for p in FILES if load(p)["stream"] and load(p)["response"]["status"] == 200]
WHOLE = [p for p in FILES if not load(p)["stream"] and load(p)["response"]["status"] == 200]
ERRORS = [p for p in FILES if load(p)["response"]["status"] >= 400]
EVENT = TypeAdapter(RawMessageStreamEvent)


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _not_blank(parts: tuple[ir.Part, ...]) -> tuple[ir.Part, ...]:
    return tuple(p for p in parts if not (isinstance(p, ir.Text) and not p.text.strip()))


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_recorded_request_decodes_and_survives_a_round_trip(path: Path) -> None:
    body = load(path)["request"]["body"]
    request = decode_request(body)
    assert request.model == body["model"]
    assert request.params.max_tokens == body["max_tokens"]
    assert request.stream == bool(body.get("stream"))
    assert [t.name for t in request.tools] == [
        t["name"] for t in body.get("tools", []) if t.get("type") in (None, "custom")
    ]
    # The recordings were made under 2023-06-01 (Claude Code sent temperature 1): pinned to it,
    # the round trip is exact; the current version's rules are checked below.
    again_body = encode_request(request, model=request.model, api_version=LEGACY_VERSION)
    again = decode_request(again_body)
    assert [m.role for m in again.messages] == [m.role for m in request.messages]
    for before, after in zip(request.messages, again.messages, strict=True):
        assert after.parts == _not_blank(before.parts)  # blank text is never sent (edge 49)
    assert again.tools == request.tools and again.native_tools == request.native_tools
    assert again.params == request.params and again.reasoning == request.reasoning
    assert again.response_format == request.response_format
    assert again.tool_choice == request.tool_choice
    assert again.native == request.native
    assert encode_request(again, model=request.model, api_version=LEGACY_VERSION) == again_body


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_recorded_request_under_the_current_version_sends_nothing_it_refuses(path: Path) -> None:
    """anthropic-version 2026-10-21: no sampling parameter, each one the app set named."""
    body = load(path)["request"]["body"]
    report = ir.Report()
    sent = encode_request(decode_request(body), report, model=body["model"])
    assert not {"temperature", "top_p", "top_k"} & sent.keys()
    assert report.dropped_fields == [k for k in ("temperature", "top_p", "top_k") if k in body]
    for turn in sent["messages"]:
        blocks = turn["content"] if isinstance(turn["content"], list) else []
        if turn["role"] == "assistant":
            assert all(b["type"] != "document" for b in blocks)
        if turn["role"] == "user":
            assert all(not b.get("citations") for b in blocks if b["type"] == "text")


@pytest.mark.parametrize("path", WHOLE, ids=_ids(WHOLE))
def test_recorded_answer_decodes_to_what_the_body_says(path: Path) -> None:
    raw = json.loads(load(path)["response"]["body"])
    response = C.decode_response(load(path)["response"]["body"].encode(), ir.Report())
    assert summary(response) == block_summary(raw["content"])
    usage = raw["usage"]
    cached = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    assert response.usage.input_tokens == usage["input_tokens"] + cached + written  # edge 76
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.finish.raw == raw["stop_reason"]
    if any(b["type"] == "tool_use" for b in raw["content"]):
        assert response.finish.reason == "tool_calls"
    assert response.id == raw["id"] and response.model == raw["model"]


@pytest.mark.parametrize("path", WHOLE, ids=_ids(WHOLE))
def test_recorded_answer_reencodes_for_the_sdk_and_round_trips(path: Path) -> None:
    request = decode_request(load(path)["request"]["body"])
    response = C.decode_response(load(path)["response"]["body"].encode(), ir.Report())
    encoded = C.encode_response(CALL, request, response, ir.Report())
    Message.model_validate_json(encoded)
    again = C.decode_response(encoded, ir.Report())
    assert again.parts == response.parts
    assert again.finish == response.finish and again.usage == response.usage
    assert again.id == response.id


@pytest.mark.parametrize("path", STREAMS, ids=_ids(STREAMS))
def test_recorded_stream_is_split_invariant_and_accumulates_to_the_recording(path: Path) -> None:
    """EDGE 1–3, 5, 79, 92: any split gives the same events; pings, padding and citation
    deltas are tolerated; usage is cumulative."""
    body = load(path)["response"]["body"].encode()
    events = assert_split_invariant(
        lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()), body
    )
    check(events)
    assert isinstance(events[-1], ir.StreamFinish)
    recorded = recorded_stream(body)
    response = ir.accumulate(events)
    assert summary(response) == block_summary(recorded["blocks"])
    usage = recorded["usage"]
    cached = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    assert response.usage.input_tokens == usage["input_tokens"] + cached + written
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.finish.raw == recorded["stop"]["stop_reason"]
    assert response.finish.stop_sequence == recorded["stop"].get("stop_sequence")
    start = events[0]
    assert isinstance(start, ir.ResponseStart) and start.id.startswith("msg_")


@pytest.mark.parametrize("path", STREAMS, ids=_ids(STREAMS))
def test_recorded_stream_reencodes_for_the_sdk_and_decodes_back(path: Path) -> None:
    """EDGE 12–19: our own stream encoder's bytes, read by our decoder and by the official
    SDK's accumulator, give back the recorded content."""
    events = decode_stream(load(path)["response"]["body"].encode())
    response = ir.accumulate(events)
    out = encode_stream(events)
    for name, data in wire_events(out):
        assert name == data["type"]
        EVENT.validate_python(data)
    again = ir.accumulate(decode_stream(out))
    assert again.parts == response.parts
    assert again.finish == response.finish
    assert again.usage == response.usage
    final = sdk_final_message(out)
    assert summary(C.decode_response(final.model_dump_json().encode(), ir.Report())) == summary(
        response
    )
    assert final.stop_reason == response.finish.raw
    assert final.usage.output_tokens == response.usage.output_tokens


@pytest.mark.parametrize("path", ERRORS, ids=_ids(ERRORS))
def test_recorded_error_keeps_status_kind_and_message(path: Path) -> None:
    """EDGE 90."""
    rec = load(path)["response"]
    error = C.decode_error(rec["status"], rec["headers"], rec["body"].encode())
    raw = json.loads(rec["body"])
    assert error.status == rec["status"]
    assert error.message == raw["error"]["message"] and error.code == raw["error"]["type"]
    expected = {400: "invalid_request", 401: "authentication", 404: "not_found"}
    assert error.kind == expected[rec["status"]]
    encoded = C.encode_error(CALL, error)
    assert encoded.status == rec["status"]
    assert json.loads(encoded.body) == {
        "type": "error",
        "error": {"type": raw["error"]["type"], "message": raw["error"]["message"]},
    }
