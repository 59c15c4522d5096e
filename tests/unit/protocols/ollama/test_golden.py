"""Ollama codec against the recorded Ollama exchanges (edges 8, 20, 30)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import assert_split_invariant, feed_all

FILES = sorted((Path(__file__).resolve().parents[3] / "fixtures" / "ollama").glob("*.json"))
C = codec("ollama")
CALL = ClientCall(protocol="ollama", endpoint="generate", variant="chat")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_recorded_exchange(path: Path) -> None:
    rec = json.loads(path.read_text())
    req = C.decode_request(CALL, json.dumps(rec["request"]["body"]).encode(), ir.Report())
    body = json.loads(C.encode_request(req, Target(protocol="ollama", model="m"), ir.Report()).body)
    assert body["stream"] is req.stream
    raw = rec["response"]["body"].encode()
    if rec["stream"]:
        events = assert_split_invariant(lambda: C.stream_decoder(req, ir.Report()), raw)
        response = ir.accumulate(events)
        enc = C.stream_encoder(CALL, req, ir.Report())
        out = b"".join(enc.encode(e) for e in events)
        assert (
            ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [out])).parts
            == response.parts
        )
    else:
        response = C.decode_response(raw, ir.Report())
    assert response.usage.input_tokens and response.usage.output_tokens


def test_tool_arguments_are_objects_both_ways_and_calls_get_ids() -> None:
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
    body = json.loads(C.encode_request(req, Target(protocol="ollama", model="m"), ir.Report()).body)
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert body["messages"][1] == {"role": "tool", "content": "r", "tool_name": "f"}
    lines = (
        b'{"model":"m","created_at":"t","message":{"role":"assistant","content":"","tool_calls":['
        b'{"function":{"name":"f","arguments":{"a":1}}},{"function":{"name":"g","arguments":{}}}]},"done":false}\n'
        b'{"model":"m","created_at":"t","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n'
    )
    r = ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [lines]))
    calls = [p for p in r.parts if isinstance(p, ir.ToolCall)]
    assert (
        [c.name for c in calls] == ["f", "g"]
        and calls[0].id != calls[1].id
        and r.finish.reason == "tool_calls"
    )


def test_fim_requests_use_generate_with_suffix() -> None:
    req = ir.Request(model="m", fim=ir.FimPrompt(prefix="def f(", suffix="\n"), stream=True)
    up = C.encode_request(req, Target(protocol="ollama", model="qwen"), ir.Report())
    body = json.loads(up.body)
    assert up.path == "/api/generate" and body["prompt"] == "def f(" and body["suffix"] == "\n"
