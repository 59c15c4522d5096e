"""The stream encoder towards Gemini clients: both framings, calls, thoughts, finish, errors."""

from __future__ import annotations

import json
from typing import Any

from google.genai import types

from crosswire.ir import (
    Error,
    Event,
    Finish,
    PartDelta,
    PartEnd,
    PartStart,
    Reasoning,
    ReasoningConfig,
    Report,
    Request,
    ResponseStart,
    StreamError,
    StreamFinish,
    Text,
    ToolCall,
    Usage,
    UsageUpdate,
)
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.callids import synthetic_call_id

from .support import sse_call, sse_payloads

REQUEST = Request(model="gemini-2.5-flash", stream=True)
THINKING = Request(
    model="gemini-2.5-flash", stream=True, reasoning=ReasoningConfig(include_thoughts=True)
)


def run(events: list[Event], *, variant: str = "sse", request: Request = REQUEST) -> bytes:
    encoder = CODEC.stream_encoder(sse_call(variant=variant), request, Report())
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def chunks(out: bytes, variant: str = "sse") -> list[dict[str, Any]]:
    payloads = sse_payloads(out) if variant == "sse" else json.loads(out)
    for payload in payloads:
        if "error" not in payload:
            types.GenerateContentResponse.model_validate_json(json.dumps(payload))
    return payloads


def parts_of(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        p for c in payloads if "candidates" in c for p in c["candidates"][0]["content"]["parts"]
    ]


def text_stream(*, finish: Finish | None = None) -> list[Event]:
    return [
        ResponseStart(id="r1", model="claude-sonnet-4-5", usage=Usage(input_tokens=12)),
        PartStart(index=0, part=Text(text="")),
        PartDelta(index=0, kind="text", text="Hello"),
        PartDelta(index=0, kind="text", text=" world"),
        PartEnd(index=0),
        UsageUpdate(usage=Usage(output_tokens=3)),
        StreamFinish(
            finish=finish or Finish(reason="stop", raw="end_turn"),
            usage=Usage(input_tokens=12, output_tokens=3),
        ),
    ]


def test_sse_framing_one_chunk_per_delta_and_no_done() -> None:
    out = run(text_stream())
    assert out.startswith(b"data: {")
    assert out.endswith(b"\r\n\r\n")
    assert b"[DONE]" not in out
    payloads = chunks(out)
    assert [p["text"] for p in parts_of(payloads)] == ["Hello", " world", ""]
    assert all(
        c["responseId"] == "r1" and c["modelVersion"] == "claude-sonnet-4-5" for c in payloads
    )
    last = payloads[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 12,
        "candidatesTokenCount": 3,
        "totalTokenCount": 15,
    }


def test_json_array_framing_is_one_incremental_array() -> None:
    """Edge case 7 in docs/edge-cases.md: ``[`` + chunks separated by ``,\\r\\n`` + ``]``."""
    encoder = CODEC.stream_encoder(sse_call(variant="json-array"), REQUEST, Report())
    assert encoder.content_type == "application/json"
    pieces = [encoder.encode(e) for e in text_stream()]
    tail = encoder.close()
    assert pieces[2].startswith(b"[{")
    assert pieces[3].startswith(b",\r\n{")
    assert pieces[-1].endswith(b"}]")
    assert tail == b""
    payloads = chunks(b"".join(pieces), "json-array")
    assert len(payloads) == 3


def test_sdk_parses_the_whole_sse_stream() -> None:
    out = run(text_stream())
    sdk = [
        types.GenerateContentResponse.model_validate_json(e[6:])
        for e in out.split(b"\r\n\r\n")
        if e
    ]
    assert "".join(r.text or "" for r in sdk) == "Hello world"


def test_function_call_is_emitted_whole_at_part_end() -> None:
    """Edges 14/15 inverse, 20, 21: Gemini never streams partial args; arguments arrive as
    fragments and leave as one ``functionCall`` with raw args; synthetic ids stay home."""
    synthetic = synthetic_call_id("r1", 0)
    events: list[Event] = [
        ResponseStart(id="r1", model="m"),
        PartStart(index=0, part=ToolCall(id="call_abc", name="weather")),
        PartDelta(index=0, kind="arguments", text='{"city": '),
        PartDelta(index=0, kind="arguments", text='"Berlin", "n": 1.50}'),
        PartEnd(index=0),
        PartStart(
            index=1,
            part=ToolCall(
                id=synthetic, name="time", native={"gemini": {"thoughtSignature": "c2ln"}}
            ),
        ),
        PartEnd(index=1),
        StreamFinish(finish=Finish(reason="tool_calls")),
    ]
    encoder = CODEC.stream_encoder(sse_call(), REQUEST, Report())
    outputs = [encoder.encode(e) for e in events]
    assert outputs[2] == b"" and outputs[3] == b""  # nothing until the call is complete
    assert b'"args":{"city": "Berlin", "n": 1.50}' in outputs[4]
    payloads = chunks(b"".join(outputs))
    calls = [p for p in parts_of(payloads) if "functionCall" in p]
    assert calls[0]["functionCall"] == {
        "name": "weather",
        "args": {"city": "Berlin", "n": 1.5},
        "id": "call_abc",
    }
    assert calls[1] == {"functionCall": {"name": "time", "args": {}}, "thoughtSignature": "c2ln"}
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"


def test_invalid_arguments_become_an_empty_object_with_a_note() -> None:
    report = Report()
    encoder = CODEC.stream_encoder(sse_call(), REQUEST, report)
    events: list[Event] = [
        ResponseStart(id="r", model="m"),
        PartStart(index=0, part=ToolCall(id="c", name="f")),
        PartDelta(index=0, kind="arguments", text='{"cut": "of'),
        PartEnd(index=0),
        StreamFinish(finish=Finish(reason="length")),
    ]
    payloads = chunks(b"".join(encoder.encode(e) for e in events))
    assert parts_of(payloads)[0]["functionCall"]["args"] == {}
    assert "tool call f arguments" in report.dropped_fields
    assert payloads[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


def reasoning_stream(origin: str, signature: str) -> list[Event]:
    return [
        ResponseStart(id="r", model="m"),
        PartStart(index=0, part=Reasoning(origin=origin)),
        PartDelta(index=0, kind="reasoning", text="Let me think"),
        PartDelta(index=0, kind="signature", text=signature),
        PartEnd(index=0),
        PartStart(index=1, part=Text(text="")),
        PartDelta(index=1, kind="text", text="Done"),
        PartEnd(index=1),
        StreamFinish(
            finish=Finish(reason="stop"),
            usage=Usage(input_tokens=5, output_tokens=50, reasoning_tokens=40),
        ),
    ]


def test_thoughts_are_shown_only_when_the_client_asked() -> None:
    """Edge case 67: thought parts are flagged ``thought``, never plain text; without
    ``includeThoughts`` (Gemini's own behaviour) only a Gemini signature is passed on."""
    shown = parts_of(chunks(run(reasoning_stream("anthropic", "EqQB"), request=THINKING)))
    assert shown[0] == {"text": "Let me think", "thought": True}
    assert all("thoughtSignature" not in p for p in shown)  # another origin's signature
    hidden = parts_of(chunks(run(reasoning_stream("anthropic", "EqQB"))))
    assert [p["text"] for p in hidden] == ["Done", ""]
    own = parts_of(chunks(run(reasoning_stream("gemini", "c2ln"))))
    assert own[0] == {"text": "", "thought": True, "thoughtSignature": "c2ln"}


def test_usage_metadata_splits_thoughts_back_out() -> None:
    """Edge case 77 inverse."""
    last = chunks(run(reasoning_stream("gemini", "c2ln")))[-1]
    assert last["usageMetadata"] == {
        "promptTokenCount": 5,
        "candidatesTokenCount": 10,
        "thoughtsTokenCount": 40,
        "totalTokenCount": 55,
    }


def test_text_signature_rides_on_the_first_chunk_or_alone() -> None:
    signed = Text(text="", native={"gemini": {"thoughtSignature": "c2ln"}})
    events: list[Event] = [
        ResponseStart(id="r", model="m"),
        PartStart(index=0, part=signed),
        PartDelta(index=0, kind="text", text="a"),
        PartDelta(index=0, kind="text", text="b"),
        PartEnd(index=0),
        PartStart(index=1, part=Text(text="", native={"gemini": {"thoughtSignature": "ZW5k"}})),
        PartEnd(index=1),
        StreamFinish(finish=Finish(reason="stop")),
    ]
    parts = parts_of(chunks(run(events)))
    assert parts[:3] == [
        {"text": "a", "thoughtSignature": "c2ln"},
        {"text": "b"},
        {"text": "", "thoughtSignature": "ZW5k"},
    ]


def test_finish_reasons_map_and_keep_gemini_values() -> None:
    def reason(finish: Finish) -> str:
        return str(chunks(run(text_stream(finish=finish)))[-1]["candidates"][0]["finishReason"])

    assert reason(Finish(reason="length", raw="max_tokens")) == "MAX_TOKENS"
    assert reason(Finish(reason="content_filter", raw="RECITATION")) == "RECITATION"
    assert reason(Finish(reason="content_filter", raw="refusal")) == "SAFETY"
    assert (
        reason(Finish(reason="error", raw="MALFORMED_FUNCTION_CALL")) == "MALFORMED_FUNCTION_CALL"
    )
    assert reason(Finish(reason="pause", raw="pause_turn")) == "STOP"
    assert reason(Finish(reason="tool_calls", raw="STOP")) == "STOP"


def test_error_mid_stream_in_both_framings() -> None:
    """Edge case 10: a final ``{"error":{code,message,status}}`` element."""
    events: list[Event] = [
        *text_stream()[:3],
        StreamError(error=Error(kind="overloaded", message="Overloaded", status=529)),
    ]
    sse_out = chunks(run(events))
    assert sse_out[-1] == {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}}
    array_out = run(events, variant="json-array")
    payloads = json.loads(array_out)
    assert payloads[-1]["error"]["status"] == "UNAVAILABLE"
    assert array_out.endswith(b"}]")


def test_error_before_anything_in_json_array() -> None:
    out = run([StreamError(error=Error.of("rate_limit", "slow down"))], variant="json-array")
    assert json.loads(out) == [
        {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    ]


def test_close_without_terminal_event_still_closes_the_array() -> None:
    encoder = CODEC.stream_encoder(sse_call(variant="json-array"), REQUEST, Report())
    assert encoder.close() == b"[]"
    encoder = CODEC.stream_encoder(sse_call(variant="json-array"), REQUEST, Report())
    body = b"".join(encoder.encode(e) for e in text_stream()[:3]) + encoder.close()
    assert json.loads(body)[0]["candidates"][0]["content"]["parts"] == [{"text": "Hello"}]
    sse_encoder = CODEC.stream_encoder(sse_call(), REQUEST, Report())
    assert sse_encoder.close() == b""


def test_nothing_after_the_finish() -> None:
    encoder = CODEC.stream_encoder(sse_call(variant="json-array"), REQUEST, Report())
    out = b"".join(encoder.encode(e) for e in text_stream())
    assert encoder.encode(PartStart(index=1, part=Text(text="late"))) == b""
    assert encoder.close() == b""
    assert json.loads(out)
