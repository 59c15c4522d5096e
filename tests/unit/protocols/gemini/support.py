"""Shared helpers for the Gemini codec tests: recorded fixtures, calls, event folding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crosswire.ir import Event, Report, Request, Response, accumulate
from crosswire.protocols.base import ClientCall, Target
from crosswire.protocols.gemini import CODEC

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "fixtures" / "gemini"
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def fixture_names(*, kind: str | None = None) -> list[str]:
    """Names of the recordings: ``kind`` = "stream", "whole" (200, not streamed), "error"."""
    names = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        status = data["response"]["status"]
        if kind == "error" and status < 400:
            continue
        if kind == "stream" and (status >= 400 or not data["stream"]):
            continue
        if kind == "whole" and (status >= 400 or data["stream"]):
            continue
        names.append(path.stem)
    return names


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def model_of(record: dict[str, Any]) -> str:
    path: str = record["request"]["path"]
    return path.split("/models/", 1)[1].split(":", 1)[0]


def call_of(record: dict[str, Any], *, variant: str | None = None) -> ClientCall:
    """The ClientCall routing would make for the recorded request line."""
    path: str = record["request"]["path"]
    stream = ":streamGenerateContent" in path
    if variant is None and stream:
        variant = "sse" if "alt=sse" in path else "json-array"
    return ClientCall(
        protocol="gemini",
        endpoint="generate",
        path=path.split("?", 1)[0],
        model=model_of(record),
        stream=stream,
        variant=variant,
    )


def sse_call(model: str = "gemini-2.5-flash", *, variant: str = "sse") -> ClientCall:
    return ClientCall(
        protocol="gemini", endpoint="generate", model=model, stream=True, variant=variant
    )


def whole_call(model: str = "gemini-2.5-flash") -> ClientCall:
    return ClientCall(protocol="gemini", endpoint="generate", model=model, stream=False)


def decode_recorded_request(name: str, report: Report | None = None) -> Request:
    record = load(name)
    body = json.dumps(record["request"]["body"]).encode()
    return CODEC.decode_request(call_of(record), body, report or Report())


def decode(
    body: dict[str, Any], *, call: ClientCall | None = None, report: Report | None = None
) -> Request:
    return CODEC.decode_request(call or whole_call(), json.dumps(body).encode(), report or Report())


def target(model: str = "gemini-2.5-flash", **kw: Any) -> Target:
    return Target(protocol="gemini", model=model, **kw)


def encode_body(
    request: Request, *, model: str | None = None, report: Report | None = None, **kw: Any
) -> dict[str, Any]:
    call = CODEC.encode_request(
        request, target(model or request.model or "gemini-2.5-flash", **kw), report or Report()
    )
    body: dict[str, Any] = json.loads(call.body)
    return body


def stream_events(
    body: bytes, request: Request | None = None, report: Report | None = None
) -> list[Event]:
    decoder = CODEC.stream_decoder(
        request or Request(model="gemini-2.5-flash", stream=True), report or Report()
    )
    return decoder.feed(body) + decoder.flush()


def stream_response(body: bytes, request: Request | None = None) -> Response:
    return accumulate(stream_events(body, request))


def sse(*chunks: dict[str, Any]) -> bytes:
    """Chunks framed as Gemini does with ``alt=sse``."""
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def chunk(
    parts: list[dict[str, Any]],
    *,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    response_id: str = "resp-1",
    model: str = "gemini-2.5-flash",
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": response_id,
    }
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def sse_payloads(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of an SSE body written with ``\\r\\n\\r\\n`` separators."""
    out = []
    for event in data.split(b"\r\n\r\n"):
        if event:
            assert event.startswith(b"data: "), event[:40]
            out.append(json.loads(event[len(b"data: ") :]))
    return out


def recorded_chunks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a recorded stream, whatever its framing."""
    body: str = record["response"]["body"]
    if body.lstrip().startswith("["):
        chunks: list[dict[str, Any]] = json.loads(body)
        return chunks
    return [json.loads(e.strip()[len("data: ") :]) for e in body.split("\r\n\r\n") if e.strip()]
