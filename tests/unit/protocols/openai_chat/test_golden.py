"""OpenAI Chat codec against every recorded OpenAI and Mistral chat exchange."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import assert_split_invariant, feed_all

FIX = Path(__file__).resolve().parents[3] / "fixtures"
FILES = sorted(FIX.glob("openai_chat/*.json")) + sorted(FIX.glob("mistral/chat_*.json"))
C = codec("openai-chat")
CALL = ClientCall(protocol="openai-chat", endpoint="generate")


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_recorded_exchange_decodes_and_reencodes(path: Path) -> None:
    rec = load(path)
    req = C.decode_request(CALL, json.dumps(rec["request"]["body"]).encode(), ir.Report())
    again = C.decode_request(
        CALL,
        C.encode_request(
            req, Target(protocol="openai-chat", model=req.model, dialect="generic"), ir.Report()
        ).body,
        ir.Report(),
    )
    assert [m.role for m in again.messages] == [
        m.role if m.role != "developer" else "system" for m in req.messages
    ]
    body = rec["response"]["body"].encode()
    status = rec["response"]["status"]
    if status >= 400:
        err = C.decode_error(status, rec["response"]["headers"], body)
        assert err.status == status and err.message
        assert json.loads(C.encode_error(CALL, err).body)["error"]["message"]
        return
    if rec["stream"]:
        events = assert_split_invariant(
            lambda: C.stream_decoder(req, ir.Report()), body, every=False
        )
        assert isinstance(events[-1], ir.StreamFinish)
        response = ir.accumulate(events)
        encoder = C.stream_encoder(CALL, req, ir.Report())
        out = b"".join(encoder.encode(e) for e in events) + encoder.close()
        for block in out.split(b"\n\n"):
            if block.startswith(b"data: {"):
                ChatCompletionChunk.model_validate_json(block[6:])
        assert (
            ir.accumulate(feed_all(lambda: C.stream_decoder(req, ir.Report()), [out])).parts
            == response.parts
        )
    else:
        response = C.decode_response(body, ir.Report())
        ChatCompletion.model_validate_json(C.encode_response(CALL, req, response, ir.Report()))
    if any(isinstance(p, ir.ToolCall) for p in response.parts):
        assert response.finish.reason == "tool_calls"


def test_parallel_tool_deltas_get_their_own_parts_and_running_indices() -> None:
    """EDGE 20, 22: indices per call; a call without arguments still appears."""
    chunks = [
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ],
                    },
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "content": "",
                        "tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}],
                    },
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {"name": "g", "arguments": ""},
                            }
                        ]
                    },
                }
            ],
        },
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "id": "c",
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
    ]
    body = (
        b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    )
    events = feed_all(lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()), [body])
    r = ir.accumulate(events)
    assert [(p.id, p.name, p.arguments) for p in r.parts if isinstance(p, ir.ToolCall)] == [
        ("call_a", "f", '{"a":1}'),
        ("call_b", "g", ""),
    ]
    assert r.finish.reason == "tool_calls" and r.usage.input_tokens == 5


def test_usage_chunk_only_when_asked_and_error_mid_stream() -> None:
    """EDGE 24, 10."""
    events = [
        ir.ResponseStart(id="x", model="m"),
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="hi"),
        ir.PartEnd(index=0),
        ir.StreamFinish(
            finish=ir.Finish(reason="stop"), usage=ir.Usage(input_tokens=3, output_tokens=1)
        ),
    ]
    for include in (True, False):
        enc = C.stream_encoder(CALL, ir.Request(model="m", include_usage=include), ir.Report())
        out = b"".join(enc.encode(e) for e in events)
        assert (b'"choices":[],"usage"' in out) is include
        assert out.endswith(b"data: [DONE]\n\n")
    enc = C.stream_encoder(CALL, ir.Request(model="m"), ir.Report())
    out = b"".join(enc.encode(e) for e in events[:3]) + enc.encode(
        ir.StreamError(error=ir.Error.of("overloaded", "Overloaded"))
    )
    assert b'"error"' in out and b"[DONE]" not in out


def test_eof_without_finish_is_an_error() -> None:
    """EDGE 11."""
    body = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    events = feed_all(lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()), [body])
    assert isinstance(events[-1], ir.StreamError)


def test_mistral_dialect_ids_seed_and_tool_user_order() -> None:
    """EDGE 28, 43."""
    req = ir.Request(
        model="m",
        params=ir.Params(seed=7),
        messages=(
            ir.Message(role="user", parts=(ir.Text(text="q"),)),
            ir.Message(
                role="assistant",
                parts=(ir.ToolCall(id="toolu_01ABCdef", name="f", arguments="{}"),),
            ),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(call_id="toolu_01ABCdef", name="f", content=(ir.Text(text="r"),)),
                ),
            ),
            ir.Message(role="user", parts=(ir.Text(text="more"),)),
        ),
    )
    body = json.loads(
        C.encode_request(
            req, Target(protocol="openai-chat", model="m", dialect="mistral"), ir.Report()
        ).body
    )
    call_id = body["messages"][1]["tool_calls"][0]["id"]
    assert (
        len(call_id) == 9 and call_id.isalnum() and body["messages"][2]["tool_call_id"] == call_id
    )
    assert [m["role"] for m in body["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert body["random_seed"] == 7 and "seed" not in body


def test_tool_error_result_is_prefixed_and_images_follow_in_a_user_message() -> None:
    """EDGE 40, 41."""
    req = ir.Request(
        model="m",
        messages=(
            ir.Message(
                role="assistant", parts=(ir.ToolCall(id="c1", name="shot", arguments="{}"),)
            ),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(
                        call_id="c1",
                        is_error=True,
                        content=(
                            ir.Text(text="boom"),
                            ir.File(kind="image", media_type="image/png", data="iVBORw0KGgo="),
                        ),
                    ),
                ),
            ),
        ),
    )
    report = ir.Report()
    body = json.loads(C.encode_request(req, Target(protocol="openai-chat", model="m"), report).body)
    assert body["messages"][1] == {"role": "tool", "tool_call_id": "c1", "content": "Error: boom"}
    assert body["messages"][2]["content"][0]["type"] == "image_url"
    assert "is_error" not in json.dumps(body)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"[1]",
        b'{"messages": 5}',
        b'{"messages": [{"role": "wizard"}]}',
        b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
    ],
)
def test_bad_requests_are_client_errors(bad: bytes) -> None:
    with pytest.raises(ir.ClientRequestError):
        C.decode_request(CALL, bad, ir.Report())
