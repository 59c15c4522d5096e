"""Ollama codec against the recorded Ollama exchanges (tests/fixtures/ollama; edges 8, 20, 30).

Every recording: the request decodes and goes back to an Ollama server as recorded (minus the
empty defaults some clients send) and as ``ollama.ChatRequest`` describes it; the answer
decodes (streams identically however the bytes are split) to what the recording says; and
re-encoded for an Ollama app it validates strictly as ``ChatResponse`` — a whole answer comes
back byte-for-byte equal as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crosswire import ir
from crosswire.ir.grammar import check
from tests.unit.protocols.ollama.support import (
    CHAT,
    FILES,
    GENERATE,
    C,
    assert_answer_ok,
    decode,
    encode,
    lines,
    load,
)
from tests.unit.streamsplit import assert_split_invariant, feed_all

IDS = [p.name for p in FILES]
STREAMS = [p for p in FILES if load(p)["stream"]]
WHOLE = [p for p in FILES if not load(p)["stream"]]


def _request(path: Path) -> ir.Request:
    return decode(load(path)["request"]["body"])


def _recorded_lines(path: Path) -> list[dict[str, Any]]:
    return lines(load(path)["response"]["body"].encode())


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_recorded_requests_go_back_to_ollama_as_sent(path: Path) -> None:
    sent = load(path)["request"]["body"]
    req = _request(path)
    body = encode(req)
    assert body["stream"] is req.stream is (sent.get("stream") is not False)
    expected = {k: v for k, v in sent.items() if v not in (None, "", [], {})}
    for i, (got, recorded) in enumerate(
        zip(body.pop("messages"), expected.pop("messages"), strict=True)
    ):
        assert got | recorded == got, f"messages[{i}]"  # recorded ⊆ sent (tool_name is added)
    assert body == expected | {"stream": body["stream"], "model": "m"}


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_recorded_streams_decode_whatever_the_split(path: Path) -> None:
    raw = load(path)["response"]["body"].encode()
    events = assert_split_invariant(lambda: C.stream_decoder(_request(path), ir.Report()), raw)
    check(events)
    recorded = _recorded_lines(path)
    r = ir.accumulate(events)
    assert r.parts == (ir.Text(text="".join(o["message"]["content"] for o in recorded)),)
    last = recorded[-1]
    assert r.finish.raw == last["done_reason"]
    assert r.usage == ir.Usage(
        input_tokens=last["prompt_eval_count"], output_tokens=last["eval_count"]
    )
    assert r.model == last["model"]


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_recorded_streams_reencode_for_an_ollama_app(path: Path) -> None:
    req = _request(path)
    events = feed_all(
        lambda: C.stream_decoder(req, ir.Report()), [load(path)["response"]["body"].encode()]
    )
    for call in (CHAT, GENERATE):
        enc = C.stream_encoder(call, req, ir.Report())
        body = b"".join(enc.encode(e) for e in events) + enc.close()
        assert_answer_ok(body, stream=True, generate=call is GENERATE)
    out, recorded = lines(body), _recorded_lines(path)
    assert "".join(o["response"] for o in out) == "".join(o["message"]["content"] for o in recorded)
    for key in ("done_reason", "prompt_eval_count", "eval_count"):
        assert out[-1][key] == recorded[-1][key]
    again = feed_all(lambda: C.stream_decoder(req, ir.Report()), [body])
    assert ir.accumulate(again).parts == ir.accumulate(events).parts


@pytest.mark.parametrize("path", WHOLE, ids=[p.name for p in WHOLE])
def test_recorded_answers_decode_and_come_back_unchanged(path: Path) -> None:
    raw = load(path)["response"]["body"]
    answer = json.loads(raw)
    r = C.decode_response(raw.encode(), ir.Report())
    assert (
        "".join(p.text for p in r.parts if isinstance(p, ir.Text)) == answer["message"]["content"]
    )
    assert r.usage == ir.Usage(
        input_tokens=answer["prompt_eval_count"], output_tokens=answer["eval_count"]
    )
    calls = [p for p in r.parts if isinstance(p, ir.ToolCall)]
    if calls:  # edge 18: a tool call is the finish reason even when Ollama says stop
        assert r.finish == ir.Finish(reason="tool_calls", raw="stop")
        assert [json.loads(c.arguments) for c in calls] == [
            tc["function"]["arguments"] for tc in answer["message"]["tool_calls"]
        ]
    body = C.encode_response(CHAT, _request(path), r, ir.Report())
    assert_answer_ok(body, stream=False)
    assert json.loads(body) == answer


def test_tool_arguments_are_objects_both_ways_and_calls_get_ids() -> None:
    """Edge 30."""
    req = ir.Request(
        model="m",
        messages=(
            ir.Message(
                role="assistant", parts=(ir.ToolCall(id="call_1", name="f", arguments='{"a":1}'),)
            ),
            ir.Message(
                role="tool",
                parts=(ir.ToolResult(call_id="call_1", name="f", content=(ir.Text(text="r"),)),),
            ),
        ),
    )
    body = encode(req)
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert body["messages"][1] == {"role": "tool", "content": "r", "tool_name": "f"}
    stream = (
        b'{"model":"m","created_at":"t","message":{"role":"assistant","content":"","tool_calls":['
        b'{"function":{"name":"f","arguments":{"a":1}}},{"function":{"name":"g","arguments":{}}}]},"done":false}\n'
        b'{"model":"m","created_at":"t","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n'
    )
    r = ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [stream]))
    calls = [p for p in r.parts if isinstance(p, ir.ToolCall)]
    assert [c.name for c in calls] == ["f", "g"] and calls[0].id != calls[1].id
    assert r.finish.reason == "tool_calls"
