"""Shared helpers for the Responses codec tests: the codec, recorded exchanges, SSE parsing
and validation with the openai SDK's own types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target

STREAM_EVENT: Any = ResponseStreamEvent  # a Union: construct_type_unchecked wants a type
C = codec("openai-responses")
CALL = ClientCall(protocol="openai-responses", endpoint="generate")
TARGET = Target(protocol="openai-responses", model="gpt-test")
EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
FIXTURES = sorted(
    (Path(__file__).resolve().parents[3] / "fixtures" / "openai_responses").glob("*.json")
)


def record(name: str) -> dict[str, Any]:
    rec: dict[str, Any] = json.loads((FIXTURES[0].parent / name).read_text())
    return rec


def decode(body: dict[str, Any], report: ir.Report | None = None) -> ir.Request:
    return C.decode_request(CALL, json.dumps(body).encode(), report or ir.Report())


def encode(
    request: ir.Request, target: Target = TARGET, report: ir.Report | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(C.encode_request(request, target, report or ir.Report()).body)
    return body


def sse_events(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data object) for each SSE event in ``data``."""
    out: list[tuple[str | None, dict[str, Any]]] = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, payload = None, None
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                payload = json.loads(line[6:])
        if payload is not None:
            out.append((name, payload))
    return out


def sse(*events: dict[str, Any]) -> bytes:
    """A Responses wire stream from event objects."""
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )


def decode_stream(data: bytes, request: ir.Request | None = None) -> list[ir.Event]:
    decoder = C.stream_decoder(request or ir.Request(model="m"), ir.Report())
    return decoder.feed(data) + decoder.flush()


def encode_stream(
    events: list[ir.Event], request: ir.Request | None = None, report: ir.Report | None = None
) -> bytes:
    encoder = C.stream_encoder(CALL, request or ir.Request(model="m"), report or ir.Report())
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def shape(parts: tuple[ir.Part, ...] | list[ir.Part]) -> list[tuple[Any, ...]]:
    """Parts without ``native`` and with opaque reasoning reduced to its presence: OpenAI
    encrypts reasoning afresh each time it serialises an item."""
    out: list[tuple[Any, ...]] = []
    for p in parts:
        if isinstance(p, ir.Reasoning):
            out.append(("reasoning", p.text, p.redacted is not None, p.origin))
        elif isinstance(p, ir.Text):
            out.append(("text", p.text))
        elif isinstance(p, ir.ToolCall):
            out.append(("call", p.id, p.name, p.arguments))
        elif isinstance(p, ir.Opaque):
            out.append(("opaque", p.origin, p.data))
        else:
            out.append((p.type, p))
    return out
