"""Anthropic codec against every recorded Anthropic exchange, and the edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import assert_split_invariant, feed_all

FIX = Path(__file__).resolve().parents[3] / "fixtures"
FILES = sorted(FIX.glob("anthropic/*.json"))
C = codec("anthropic")
CALL = ClientCall(protocol="anthropic", endpoint="generate")
EVENT = TypeAdapter(RawMessageStreamEvent)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_recorded_exchange(path: Path) -> None:
    rec = json.loads(path.read_text())
    req = C.decode_request(CALL, json.dumps(rec["request"]["body"]).encode(), ir.Report())
    again = C.decode_request(
        CALL,
        C.encode_request(req, Target(protocol="anthropic", model=req.model), ir.Report()).body,
        ir.Report(),
    )
    assert [m.role for m in again.messages] == [m.role for m in req.messages]
    body, status = rec["response"]["body"].encode(), rec["response"]["status"]
    if status >= 400:
        err = C.decode_error(status, rec["response"]["headers"], body)
        assert err.status == status and err.message
        return
    if rec["stream"]:
        events = assert_split_invariant(
            lambda: C.stream_decoder(req, ir.Report()), body, every=False
        )
        assert isinstance(events[0], ir.ResponseStart) and isinstance(events[-1], ir.StreamFinish)
        response = ir.accumulate(events)
        enc = C.stream_encoder(CALL, req, ir.Report())
        out = b"".join(enc.encode(e) for e in events)
        for block in out.split(b"\n\n"):
            data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
            if data:
                EVENT.validate_json(data[0])
        assert (
            ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [out])).parts
            == response.parts
        )
    else:
        response = C.decode_response(body, ir.Report())
        Message.model_validate_json(C.encode_response(CALL, req, response, ir.Report()))


def test_usage_arithmetic_cache_included_in_ir_excluded_on_the_wire() -> None:
    """EDGE 76."""
    body = (
        b'{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn",'
        b'"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":3}}'
    )
    r = C.decode_response(body, ir.Report())
    assert (r.usage.input_tokens, r.usage.cache_read_tokens, r.usage.cache_write_tokens) == (
        105,
        90,
        5,
    )
    out = json.loads(C.encode_response(CALL, ir.Request(model="c"), r, ir.Report()))
    assert out["usage"]["input_tokens"] == 10


def test_encoding_rules_results_first_ids_system_and_params() -> None:
    """EDGES 27, 36, 45, 49, 65, 82, 83, 84, 34."""
    req = ir.Request(
        model="gpt",
        params=ir.Params(temperature=1.5, top_p=0.9, stop=("\n", "END")),
        reasoning=ir.ReasoningConfig(enabled=True, effort="high"),
        tools=(ir.Tool(name="f", parameters={"type": "object"}),),
        tool_choice=ir.ToolChoice(mode="required"),
        messages=(
            ir.Message(role="system", parts=(ir.Text(text="sys"),)),
            ir.Message(role="user", parts=(ir.Text(text="q"),)),
            ir.Message(
                role="assistant",
                parts=(
                    ir.Text(text=""),
                    ir.ToolCall(id="functions.Bash:0", name="f", arguments=""),
                ),
            ),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(
                        call_id="functions.Bash:0", content=(ir.Text(text="r"),), is_error=True
                    ),
                ),
            ),
            ir.Message(role="user", parts=(ir.Text(text="next"),)),
            ir.Message(role="system", parts=(ir.Text(text="later"),)),
        ),
    )
    report = ir.Report()
    body = json.loads(
        C.encode_request(req, Target(protocol="anthropic", model="claude"), report).body
    )
    assert body["system"] == "sys"
    asst = body["messages"][1]["content"]
    assert asst == [{"type": "tool_use", "id": asst[0]["id"], "name": "f", "input": {}}]
    assert all(c.isalnum() or c in "_-" for c in asst[0]["id"])
    user = body["messages"][2]["content"]
    assert (
        user[0]["type"] == "tool_result"
        and user[0]["tool_use_id"] == asst[0]["id"]
        and user[0]["is_error"]
    )
    assert user[1] == {"type": "text", "text": "next"} and "<system-reminder>" in user[2]["text"]
    assert (
        body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
        and body["max_tokens"] > 16384
    )
    assert "temperature" not in body and "top_p" not in body
    assert body["tool_choice"] == {"type": "auto"}
    assert body["stop_sequences"] == ["END"]


def test_stream_encoder_lifecycle_for_an_openai_style_upstream() -> None:
    """EDGES 12, 14, 17, 18: message_start first with input tokens; tool input only as deltas."""
    events = [
        ir.ResponseStart(id="x", model="m", usage=ir.Usage(input_tokens=42, estimated=True)),
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="hi"),
        ir.PartEnd(index=0),
        ir.PartStart(index=1, part=ir.ToolCall(id="c1", name="f", arguments="")),
        ir.PartDelta(index=1, kind="arguments", text='{"a":1}'),
        ir.PartEnd(index=1),
        ir.StreamFinish(finish=ir.Finish(reason="stop"), usage=ir.Usage(output_tokens=5)),
    ]
    enc = C.stream_encoder(CALL, ir.Request(model="m"), ir.Report())
    out = b"".join(enc.encode(e) for e in events).decode()
    names = [line[7:] for line in out.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert '"input_tokens":42' in out and '"stop_reason":"tool_use"' in out
    assert '"input":{}' in out and '"partial_json":"{\\"a\\":1}"' in out


def test_unknown_blocks_and_fields_never_crash() -> None:
    """EDGE 91/92 and new beta features."""
    body = json.dumps(
        {
            "model": "c",
            "max_tokens": 5,
            "context_management": {"x": 1},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "brand_new_block", "foo": 1},
                        {"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}},
                    ],
                }
            ],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        }
    ).encode()
    req = C.decode_request(CALL, body, ir.Report())
    assert isinstance(req.messages[0].parts[0], ir.Opaque)
    out = json.loads(
        C.encode_request(req, Target(protocol="anthropic", model="c"), ir.Report()).body
    )
    assert out["messages"][0]["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert (
        out["context_management"] == {"x": 1} and out["tools"][0]["type"] == "web_search_20250305"
    )
