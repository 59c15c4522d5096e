"""Responses codec against every recorded Responses exchange; the event lifecycle (edges 25, 26, 70, 93)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import assert_split_invariant, feed_all

FILES = sorted(
    (Path(__file__).resolve().parents[3] / "fixtures" / "openai_responses").glob("*.json")
)
C = codec("openai-responses")
CALL = ClientCall(protocol="openai-responses", endpoint="generate")
EVENT = TypeAdapter(ResponseStreamEvent)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_recorded_exchange(path: Path) -> None:
    rec = json.loads(path.read_text())
    req = C.decode_request(CALL, json.dumps(rec["request"]["body"]).encode(), ir.Report())
    C.encode_request(req, Target(protocol="openai-responses", model=req.model), ir.Report())
    body, status = rec["response"]["body"].encode(), rec["response"]["status"]
    if status >= 400:
        assert C.decode_error(status, rec["response"]["headers"], body).status == status
        return
    if rec["stream"]:
        events = assert_split_invariant(
            lambda: C.stream_decoder(req, ir.Report()), body, every=False
        )
        response = ir.accumulate(events)
        enc = C.stream_encoder(CALL, req, ir.Report())
        out = b"".join(enc.encode(e) for e in events)
        seqs = []
        for block in out.split(b"\n\n"):
            data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
            if data:
                obj = json.loads(data[0])
                seqs.append(obj["sequence_number"])
                if (
                    path.name != "stream_web_search_server_tool.json"
                ):  # server-tool items pass through as recorded
                    EVENT.validate_python(obj)
        assert seqs == list(range(len(seqs)))
        again = ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [out]))
        assert [type(p) for p in again.parts] == [type(p) for p in response.parts]
    else:
        response = C.decode_response(body, ir.Report())
        Response.model_validate_json(C.encode_response(CALL, req, response, ir.Report()))


def test_previous_response_id_is_a_clear_400() -> None:
    with pytest.raises(ir.UnsupportedFeature, match="previous_response_id"):
        C.decode_request(
            CALL, b'{"model":"m","input":"hi","previous_response_id":"resp_1"}', ir.Report()
        )


def test_reasoning_goes_back_encrypted_without_its_id() -> None:
    """EDGE 70."""
    req = ir.Request(
        model="m",
        messages=(
            ir.Message(role="user", parts=(ir.Text(text="q"),)),
            ir.Message(
                role="assistant",
                parts=(
                    ir.Reasoning(text="s", signature="gAAAenc", origin="openai-responses"),
                    ir.ToolCall(id="call_1", name="f", arguments="{}"),
                ),
            ),
            ir.Message(
                role="tool", parts=(ir.ToolResult(call_id="call_1", content=(ir.Text(text="r"),)),)
            ),
        ),
        reasoning=ir.ReasoningConfig(effort="low"),
    )
    body = json.loads(
        C.encode_request(req, Target(protocol="openai-responses", model="m"), ir.Report()).body
    )
    reasoning = body["input"][1]
    assert (
        reasoning["type"] == "reasoning"
        and reasoning["encrypted_content"] == "gAAAenc"
        and "id" not in reasoning
    )
    assert body["store"] is False and "reasoning.encrypted_content" in body["include"]
    assert (
        body["input"][2]["call_id"] == "call_1"
        and body["input"][3]["type"] == "function_call_output"
    )
