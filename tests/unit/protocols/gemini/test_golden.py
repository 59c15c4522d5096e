"""Golden tests over every recording in tests/fixtures/gemini: requests, whole answers, both
stream framings (SSE and JSON array), round trips, and the google-genai SDK accepting what the
client side writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from crosswire.ir import (
    Reasoning,
    Report,
    Response,
    StreamError,
    StreamFinish,
    Text,
    ToolCall,
    accumulate,
    replay,
)
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.tokens import usage_from_metadata
from tests.unit.streamsplit import assert_split_invariant

from .support import (
    call_of,
    decode_recorded_request,
    fixture_names,
    load,
    model_of,
    recorded_chunks,
    sse_payloads,
    stream_events,
    target,
)

ALL = fixture_names()
WHOLE = fixture_names(kind="whole")
STREAMS = fixture_names(kind="stream")


def _recorded_view(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the recording says, independent of our decoder: visible text, thought text,
    function calls, the last usage and finish reason."""
    text, thoughts, calls = [], [], []
    finish = None
    usage: dict[str, Any] | None = None
    for c in chunks:
        if isinstance(c.get("usageMetadata"), dict):
            usage = c["usageMetadata"]
        for cand in c.get("candidates", []):
            for part in cand.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    calls.append(
                        (part["functionCall"]["name"], part["functionCall"].get("args", {}))
                    )
                elif part.get("thought"):
                    thoughts.append(part.get("text", ""))
                elif "text" in part:
                    text.append(part["text"])
            finish = cand.get("finishReason", finish)
    return {
        "text": "".join(text),
        "thoughts": "".join(thoughts),
        "calls": calls,
        "usage": usage,
        "finish": finish,
    }


def _ir_view(response: Response) -> dict[str, Any]:
    return {
        "text": "".join(p.text for p in response.parts if isinstance(p, Text)),
        "thoughts": "".join(p.text for p in response.parts if isinstance(p, Reasoning)),
        "calls": [
            (p.name, json.loads(p.arguments) if p.arguments else {})
            for p in response.parts
            if isinstance(p, ToolCall)
        ],
    }


def _assert_agrees(response: Response, chunks: list[dict[str, Any]]) -> None:
    recorded = _recorded_view(chunks)
    view = _ir_view(response)
    assert view["text"] == recorded["text"]
    assert view["thoughts"] == recorded["thoughts"]
    assert view["calls"] == recorded["calls"]
    assert response.finish.raw == recorded["finish"]
    expected_reason = "tool_calls" if recorded["calls"] else "stop"
    assert response.finish.reason == expected_reason
    meta = recorded["usage"]
    assert response.usage == usage_from_metadata(meta)
    assert response.usage.input_tokens == meta["promptTokenCount"]
    thoughts = meta.get("thoughtsTokenCount")
    assert response.usage.output_tokens == meta.get("candidatesTokenCount", 0) + (thoughts or 0)
    assert response.usage.reasoning_tokens == thoughts
    chunk0 = chunks[0]
    assert response.id == chunk0["responseId"]
    assert response.model == chunk0["modelVersion"]


# ---- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_recorded_request_decodes_and_reencodes_stably(name: str) -> None:
    """Every recorded body decodes (Vertex and placeholder hosts, snake_case keys included);
    decode → encode → decode → encode gives the same body the second time."""
    record = load(name)
    request = decode_recorded_request(name)
    assert request.model == model_of(record)
    assert request.stream == record["stream"]
    first = CODEC.encode_request(request, target(model_of(record)), Report())
    again = CODEC.decode_request(call_of(record), first.body, Report())
    second = CODEC.encode_request(again, target(model_of(record)), Report())
    assert json.loads(first.body) == json.loads(second.body)
    assert again.messages == request.messages


@pytest.mark.parametrize("name", ALL)
def test_recorded_request_contents_survive_the_round_trip(name: str) -> None:
    """Text, files, calls (with signatures), responses and system text come back as sent
    (keys camelCased, base64 made standard, empty tool schemas removed)."""
    record = load(name)
    request = decode_recorded_request(name)
    body = json.loads(CODEC.encode_request(request, target(model_of(record)), Report()).body)
    original = record["request"]["body"]
    assert len(body["contents"]) == len(original["contents"])
    for sent, got in zip(original["contents"], body["contents"], strict=True):
        assert got["role"] == sent.get("role", "user")
        assert len(got["parts"]) == len(sent["parts"])
        for sent_part, got_part in zip(sent["parts"], got["parts"], strict=True):
            if "text" in sent_part:
                assert got_part["text"] == sent_part["text"]
            call = sent_part.get("functionCall") or sent_part.get("function_call")
            if call is not None:
                assert got_part["functionCall"]["name"] == call["name"]
                assert got_part["functionCall"]["args"] == call["args"]
                assert got_part["functionCall"].get("id") == call.get("id")
                assert got_part.get("thoughtSignature") == sent_part.get("thoughtSignature")
            response = sent_part.get("functionResponse") or sent_part.get("function_response")
            if response is not None:
                assert got_part["functionResponse"]["response"] == response["response"]
                assert got_part["functionResponse"]["name"] == response["name"]
    system = original.get("systemInstruction")
    if system is not None:
        assert body["systemInstruction"]["parts"] == system["parts"]


# ---- whole answers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", WHOLE)
def test_recorded_whole_answer_decodes_as_recorded(name: str) -> None:
    record = load(name)
    response = CODEC.decode_response(record["response"]["body"].encode(), Report())
    _assert_agrees(response, [json.loads(record["response"]["body"])])


@pytest.mark.parametrize("name", WHOLE)
def test_whole_answer_round_trips_through_a_gemini_client(name: str) -> None:
    """decode → encode for a Gemini client → the SDK accepts it → decode gives the same."""
    record = load(name)
    request = decode_recorded_request(name)
    response = CODEC.decode_response(record["response"]["body"].encode(), Report())
    body = CODEC.encode_response(call_of(record), request, response, Report())
    sdk = types.GenerateContentResponse.model_validate_json(body)
    assert sdk.candidates is not None
    again = CODEC.decode_response(body, Report())
    assert again.parts == response.parts
    assert (again.finish, again.usage, again.id, again.model) == (
        response.finish,
        response.usage,
        response.id,
        response.model,
    )


def test_parallel_calls_signature_stays_on_the_first_call_only() -> None:
    """Edge case 68 in docs/edge-cases.md: in a parallel batch only the first call is signed."""
    record = load("nonstream_parallel_function_calls")
    response = CODEC.decode_response(record["response"]["body"].encode(), Report())
    calls = [p for p in response.parts if isinstance(p, ToolCall)]
    assert len(calls) == 3
    assert "thoughtSignature" in calls[0].native["gemini"]
    assert all(not c.native for c in calls[1:])
    assert len({c.id for c in calls}) == 3
    request = decode_recorded_request("nonstream_parallel_function_calls")
    body = json.loads(CODEC.encode_response(call_of(record), request, response, Report()))
    parts = body["candidates"][0]["content"]["parts"]
    assert [("thoughtSignature" in p) for p in parts] == [True, False, False]
    assert all("id" not in p["functionCall"] for p in parts)  # synthetic ids stay home


# ---- streams ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_is_split_invariant(name: str) -> None:
    """Edges 1–3 and 7: SSE with CRLF separators and JSON arrays give the same events
    whole, byte by byte and split anywhere."""
    record = load(name)
    request = decode_recorded_request(name)
    body = record["response"]["body"].encode()
    events = assert_split_invariant(lambda: CODEC.stream_decoder(request, Report()), body)
    assert isinstance(events[-1], StreamFinish)


@pytest.mark.parametrize("name", STREAMS)
def test_accumulated_stream_agrees_with_the_recording(name: str) -> None:
    """Usage is the last running total (edge 78), thoughts are added to the output and
    reported as reasoning (edge 77), STOP with calls is tool_calls (edges 18/23)."""
    record = load(name)
    events = stream_events(record["response"]["body"].encode(), decode_recorded_request(name))
    _assert_agrees(accumulate(events), recorded_chunks(record))


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("variant", ["sse", "json-array"])
def test_stream_reencoded_for_a_gemini_client(name: str, variant: str) -> None:
    """Both client framings: every chunk is a valid GenerateContentResponse for the SDK,
    and decoding what we wrote gives the same answer."""
    record = load(name)
    call = call_of(record, variant=variant)
    request = decode_recorded_request(name)
    events = stream_events(record["response"]["body"].encode(), request)
    encoder = CODEC.stream_encoder(call, request, Report())
    out = b"".join(encoder.encode(e) for e in events) + encoder.close()
    if variant == "sse":
        assert encoder.content_type == "text/event-stream"
        chunks = sse_payloads(out)
    else:
        assert encoder.content_type == "application/json"
        chunks = json.loads(out)
    for c in chunks:
        types.GenerateContentResponse.model_validate_json(json.dumps(c))
    assert "finishReason" in chunks[-1]["candidates"][0]
    assert "usageMetadata" in chunks[-1]
    original = accumulate(events)
    again = accumulate(stream_events(out, request))
    assert again.parts == original.parts
    assert (again.finish, again.usage, again.id) == (original.finish, original.usage, original.id)


@pytest.mark.parametrize("name", WHOLE)
def test_whole_answer_replayed_as_a_stream(name: str) -> None:
    """A whole upstream answer to a streaming Gemini client (the pipeline replays it)."""
    record = load(name)
    request = decode_recorded_request(name)
    response = CODEC.decode_response(record["response"]["body"].encode(), Report())
    encoder = CODEC.stream_encoder(call_of(record, variant="sse"), request, Report())
    out = b"".join(encoder.encode(e) for e in replay(response)) + encoder.close()
    for c in sse_payloads(out):
        types.GenerateContentResponse.model_validate_json(json.dumps(c))
    events = stream_events(out, request)
    assert not any(isinstance(e, StreamError) for e in events)
    again = accumulate(events)
    assert _ir_view(again) == _ir_view(response)
    assert again.usage == response.usage


def test_recorded_unflagged_thought_text_stays_visible_text() -> None:
    """Edge case 71, recorded: Gemini 2.5 answered ``"thought\\n…"`` without ``thought: true``;
    it is passed through as text, with no heuristics."""
    record = load("nonstream_image_in_function_response")
    response = CODEC.decode_response(record["response"]["body"].encode(), Report())
    first = response.parts[0]
    assert isinstance(first, Text) and first.text.startswith("thought\n")
    assert not any(isinstance(p, Reasoning) for p in response.parts)


def test_recorded_vertex_stream_keeps_its_create_time() -> None:
    record = load("sse_vertex_text")
    events = stream_events(record["response"]["body"].encode())
    assert accumulate(events).created == 1787150069
