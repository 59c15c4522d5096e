"""Ollama NDJSON streams ⇄ IR events: split invariance, the event grammar, edge 8 (a stream
without ``done: true`` is an error), and lines that validate as the app SDK's types."""

from __future__ import annotations

from crosswire import ir
from crosswire.ir.grammar import check
from tests.unit.protocols.ollama.support import (
    CHAT,
    GENERATE,
    C,
    assert_answer_ok,
    lines,
    ndjson,
)
from tests.unit.streamsplit import assert_split_invariant, feed_all

REQ = ir.Request(model="app", stream=True)
HEAD = {"model": "qwen3", "created_at": "2025-10-17T23:14:07.414671Z"}


def _msg(done: bool = False, **message: object) -> dict[str, object]:
    return {**HEAD, "message": {"role": "assistant", "content": "", **message}, "done": done}


THINK_THEN_CALLS = ndjson(
    _msg(thinking="The user"),
    _msg(thinking=" wants weather."),
    _msg(content="Let me check."),
    _msg(
        tool_calls=[
            {"id": "call_a", "function": {"index": 0, "name": "w", "arguments": {"c": "Paris"}}},
            {"id": "call_b", "function": {"index": 1, "name": "w", "arguments": {"c": "Rome"}}},
        ]
    ),
    _msg(done=True)
    | {"done_reason": "stop", "prompt_eval_count": 30, "eval_count": 20, "total_duration": 9},
)


def _decode(raw: bytes, report: ir.Report | None = None) -> list[ir.Event]:
    return assert_split_invariant(lambda: C.stream_decoder(REQ, report or ir.Report()), raw)


def test_thinking_text_and_whole_tool_calls_decode_in_order() -> None:
    events = _decode(THINK_THEN_CALLS)
    check(events)
    r = ir.accumulate(events)
    assert r.parts[:2] == (
        ir.Reasoning(text="The user wants weather.", origin="ollama"),
        ir.Text(text="Let me check."),
    )
    calls = r.parts[2:]
    assert [(c.id, c.arguments) for c in calls if isinstance(c, ir.ToolCall)] == [
        ("call_a", '{"c":"Paris"}'),
        ("call_b", '{"c":"Rome"}'),
    ]
    assert r.finish == ir.Finish(reason="tool_calls", raw="stop")
    assert r.usage == ir.Usage(input_tokens=30, output_tokens=20)


def test_calls_without_ids_get_distinct_stable_ids() -> None:
    raw = ndjson(
        _msg(tool_calls=[{"function": {"name": "f", "arguments": {}}}]),
        _msg(tool_calls=[{"function": {"name": "f", "arguments": {}}}]),
        _msg(done=True),
    )
    first = [p.id for p in ir.accumulate(_decode(raw)).parts if isinstance(p, ir.ToolCall)]
    again = [p.id for p in ir.accumulate(_decode(raw)).parts if isinstance(p, ir.ToolCall)]
    assert len(set(first)) == 2 and first == again


def test_a_stream_without_done_or_with_an_error_line_is_an_error() -> None:
    """Edge 8: EOF before ``done: true`` is never a clean stop."""
    cut = _decode(ndjson(_msg(content="Hel")))
    assert isinstance(cut[-1], ir.StreamError)
    failed = _decode(
        ndjson(_msg(content="Hel"), {"error": "model runner has unexpectedly stopped"})
    )
    assert isinstance(failed[-1], ir.StreamError)
    assert failed[-1].error.message == "model runner has unexpectedly stopped"
    check(failed)


def test_streamed_logprobs_are_dropped_with_a_note_and_images_are_parts() -> None:
    report = ir.Report()
    raw = ndjson(
        {**HEAD, "response": "", "image": "R0lGODlhAQABAAAAACw=", "done": False},
        {**HEAD, "response": "Hi", "logprobs": [{"token": "Hi", "logprob": -0.5}], "done": False},
        {**HEAD, "response": "", "done": True, "done_reason": "length"},
    )
    events = _decode(raw, report)
    r = ir.accumulate(events)
    assert r.parts == (
        ir.File(kind="image", data="R0lGODlhAQABAAAAACw=", media_type="image/gif"),
        ir.Text(text="Hi"),
    )
    assert r.finish.reason == "length" and "logprobs" in report.dropped_fields


def _encode(
    events: list[ir.Event], *, generate: bool = False, report: ir.Report | None = None
) -> bytes:
    enc = C.stream_encoder(GENERATE if generate else CHAT, REQ, report or ir.Report())
    return b"".join(enc.encode(e) for e in events) + enc.close()


ANTHROPIC_LIKE: list[ir.Event] = [
    ir.ResponseStart(
        id="msg_1", model="claude", usage=ir.Usage(input_tokens=11), created=1700000000
    ),
    ir.PartStart(index=0, part=ir.Reasoning(origin="anthropic")),
    ir.PartDelta(index=0, kind="reasoning", text="plan"),
    ir.PartDelta(index=0, kind="signature", text="sig"),
    ir.PartEnd(index=0),
    ir.PartStart(index=1, part=ir.Text(text="")),
    ir.PartDelta(index=1, kind="text", text="Hel"),
    ir.PartDelta(index=1, kind="text", text="lo \u00e9"),
    ir.PartEnd(index=1),
    ir.PartStart(index=2, part=ir.ToolCall(id="toolu_1", name="f", arguments="")),
    ir.PartDelta(index=2, kind="arguments", text='{"a"'),
    ir.PartDelta(index=2, kind="arguments", text=":1}"),
    ir.PartEnd(index=2),
    ir.UsageUpdate(usage=ir.Usage(output_tokens=5)),
    ir.StreamFinish(
        finish=ir.Finish(reason="tool_calls", raw="tool_use"), usage=ir.Usage(output_tokens=6)
    ),
]


def test_events_encode_to_lines_an_ollama_app_validates() -> None:
    body = _encode(ANTHROPIC_LIKE)
    assert_answer_ok(body, stream=True)
    out = lines(body)
    assert [o["done"] for o in out] == [False, False, False, False, True]
    assert out[0]["message"] == {"role": "assistant", "content": "", "thinking": "plan"}
    assert [o["message"]["content"] for o in out[1:3]] == ["Hel", "lo \u00e9"]
    assert out[3]["message"]["tool_calls"] == [{"function": {"name": "f", "arguments": {"a": 1}}}]
    assert out[-1]["done_reason"] == "stop"
    assert (out[-1]["prompt_eval_count"], out[-1]["eval_count"]) == (11, 6)
    assert {o["model"] for o in out} == {"claude"}
    assert out[0]["created_at"] == "2023-11-14T22:13:20.000000Z"
    back = ir.accumulate(feed_all(lambda: C.stream_decoder(REQ, ir.Report()), [body]))
    assert [p.type for p in back.parts] == ["reasoning", "text", "tool_call"]


def test_generate_streams_carry_response_and_thinking() -> None:
    report = ir.Report()
    body = _encode(ANTHROPIC_LIKE, generate=True, report=report)
    assert_answer_ok(body, stream=True, generate=True)
    out = lines(body)
    assert out[0] == {**out[0], "response": "", "thinking": "plan"}
    assert "".join(o["response"] for o in out) == "Hello \u00e9"
    assert "tool calls" in report.dropped_fields


def test_an_error_mid_stream_is_an_error_line_and_ends_the_stream() -> None:
    events: list[ir.Event] = [
        ir.ResponseStart(id="x", model="m"),
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="a"),
        ir.StreamError(error=ir.Error.of("overloaded", "busy")),
        ir.PartDelta(index=0, kind="text", text="late"),
    ]
    out = lines(_encode(events))
    assert out[-1] == {"error": "busy"} and len(out) == 2


def summary(parts: tuple[ir.Part, ...]) -> list[tuple[str, str]]:
    """What a round trip must keep (call ids go: Ollama apps' types have none)."""
    return [
        (p.name, p.arguments) if isinstance(p, ir.ToolCall) else (p.type, getattr(p, "text", ""))
        for p in parts
    ]


def test_an_ollama_stream_round_trips_through_the_ir() -> None:
    original = _decode(THINK_THEN_CALLS)
    body = _encode(original)
    assert_answer_ok(body, stream=True)
    again = ir.accumulate(feed_all(lambda: C.stream_decoder(REQ, ir.Report()), [body]))
    first = ir.accumulate(original)
    assert summary(again.parts) == summary(first.parts)
    assert again.usage == first.usage and again.finish == first.finish
