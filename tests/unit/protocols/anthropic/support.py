"""Shared helpers for the Anthropic codec tests: the codec, calls, SSE builders, the official
SDK as a judge of encoded output, and an independent reading of recorded streams (what the
recording says, without the decoder)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import feed_all

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FILES = sorted(FIXTURES.glob("anthropic/*.json"))
C = codec("anthropic")
CALL = ClientCall(protocol="anthropic", endpoint="generate", path="/v1/messages")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def decode_request(body: dict[str, Any], report: ir.Report | None = None) -> ir.Request:
    return C.decode_request(CALL, json.dumps(body).encode(), report or ir.Report())


def encode_request(
    request: ir.Request, report: ir.Report | None = None, **target: Any
) -> dict[str, Any]:
    up = C.encode_request(
        request,
        Target(protocol="anthropic", model=target.pop("model", "claude"), **target),
        report if report is not None else ir.Report(),
    )
    body: dict[str, Any] = json.loads(up.body)
    return body


def user(text: str) -> ir.Message:
    return ir.Message(role="user", parts=(ir.Text(text=text),))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message(role="assistant", parts=parts)


def request(*messages: ir.Message, **fields: Any) -> ir.Request:
    return ir.Request(model=fields.pop("model", "m"), messages=messages, **fields)


def sse(events: Iterable[dict[str, Any] | tuple[str, str]]) -> bytes:
    """``event:``/``data:`` pairs for event objects (a tuple is sent as (name, raw data))."""
    out = []
    for e in events:
        if isinstance(e, tuple):
            name, data = e
        else:
            name, data = str(e["type"]), json.dumps(e)
        out.append(f"event: {name}\ndata: {data}\n\n".encode())
    return b"".join(out)


def message_start(
    usage: dict[str, Any] | None = None, msg_id: str = "msg_1", model: str = "claude"
) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(
    stop_reason: str | None = "end_turn",
    usage: dict[str, Any] | None = None,
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": usage if usage is not None else {"output_tokens": 5},
    }


MESSAGE_STOP = {"type": "message_stop"}


def decode_stream(body: bytes, chunks: Iterable[bytes] | None = None) -> list[ir.Event]:
    return feed_all(
        lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()),
        list(chunks) if chunks is not None else [body],
    )


def encode_stream(
    events: Iterable[ir.Event], req: ir.Request | None = None, report: ir.Report | None = None
) -> bytes:
    encoder = C.stream_encoder(CALL, req or ir.Request(model="m"), report or ir.Report())
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def wire_events(body: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """``(event name, data object)`` for each SSE event (CRLF tolerated)."""
    text = body.decode().replace("\r\n", "\n")
    out: list[tuple[str | None, dict[str, Any]]] = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


def sdk_final_message(body: bytes) -> Message:
    """The official SDK's own stream accumulation (``MessageStream``) over these bytes."""

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://crosswire.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def recorded_stream(body: bytes) -> dict[str, Any]:
    """What a recorded stream contains, read straight from its events."""
    blocks: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    usage: dict[str, Any] = {}
    stop: dict[str, Any] = {}
    for name, data in wire_events(body):
        kind = data.get("type")
        if kind == "message_start":
            usage.update({k: v for k, v in data["message"]["usage"].items() if v is not None})
        elif kind == "content_block_start":
            blocks[data["index"]] = {**data["content_block"], "_json": ""}
            order.append(data["index"])
        elif kind == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                block["_json"] += delta["partial_json"]
        elif kind == "message_delta":
            stop = data["delta"]
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        assert name in (None, kind) or kind == "ping"
    return {"blocks": [blocks[i] for i in order], "usage": usage, "stop": stop}


def summary(response: ir.Response) -> dict[str, Any]:
    """The parts of a response in comparable form (tool arguments parsed; ``""`` is ``{}``)."""
    out: dict[str, Any] = {"text": [], "thinking": [], "redacted": [], "calls": [], "opaque": []}
    for p in response.parts:
        if isinstance(p, ir.Text):
            out["text"].append(p.text)
        elif isinstance(p, ir.Reasoning) and p.redacted is not None:
            out["redacted"].append(p.redacted)
        elif isinstance(p, ir.Reasoning):
            out["thinking"].append((p.text, p.signature or ""))
        elif isinstance(p, ir.ToolCall):
            out["calls"].append((p.id, p.name, json.loads(p.arguments or "{}")))
        elif isinstance(p, ir.Opaque):
            out["opaque"].append(p.data.get("type"))
    return out


def block_summary(blocks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The same shape from wire content blocks (``_json`` = streamed tool input)."""
    out: dict[str, Any] = {"text": [], "thinking": [], "redacted": [], "calls": [], "opaque": []}
    for b in blocks:
        if b["type"] == "text":
            out["text"].append(b["text"])
        elif b["type"] == "thinking":
            out["thinking"].append((b["thinking"], b.get("signature") or ""))
        elif b["type"] == "redacted_thinking":
            out["redacted"].append(b["data"])
        elif b["type"] == "tool_use":
            raw = b.get("_json")
            out["calls"].append((b["id"], b["name"], json.loads(raw) if raw else b["input"]))
        else:
            out["opaque"].append(b["type"])
    return out
