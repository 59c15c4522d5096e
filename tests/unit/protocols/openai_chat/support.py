"""Shared helpers for the OpenAI Chat codec tests: the codec, calls, chunk builders and an
independent reading of recorded streams (what the recording says, without the decoder)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import feed_all

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FILES = sorted(FIXTURES.glob("openai_chat/*.json")) + sorted(FIXTURES.glob("mistral/chat_*.json"))
C = codec("openai-chat")
CALL = ClientCall(protocol="openai-chat", endpoint="generate")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def decode_request(body: dict[str, Any], report: ir.Report | None = None) -> ir.Request:
    return C.decode_request(CALL, json.dumps(body).encode(), report or ir.Report())


def encode_request(
    request: ir.Request,
    dialect: str = "openai",
    report: ir.Report | None = None,
    **target: Any,
) -> dict[str, Any]:
    up = C.encode_request(
        request,
        Target(protocol="openai-chat", model=target.pop("model", "m"), dialect=dialect, **target),
        report if report is not None else ir.Report(),
    )
    body: dict[str, Any] = json.loads(up.body)
    return body


def user(text: str) -> ir.Message:
    return ir.Message(role="user", parts=(ir.Text(text=text),))


def sse(chunks: Iterable[dict[str, Any] | str], done: bool = True) -> bytes:
    """``data:`` lines for chunk objects (strings are sent as they are)."""
    out = b"".join(
        b"data: " + (c if isinstance(c, str) else json.dumps(c)).encode() + b"\n\n" for c in chunks
    )
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        **extra,
    }


def call_delta(
    index: int, args: str, call_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    tc: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        tc["id"] = call_id
        tc["type"] = "function"
    if name is not None:
        tc["function"]["name"] = name
    return {"tool_calls": [tc]}


def decode_stream(body: bytes, chunks: Iterable[bytes] | None = None) -> list[ir.Event]:
    return feed_all(
        lambda: C.stream_decoder(ir.Request(model="m"), ir.Report()),
        list(chunks) if chunks is not None else [body],
    )


def encode_stream(events: Iterable[ir.Event], request: ir.Request | None = None) -> bytes:
    encoder = C.stream_encoder(CALL, request or ir.Request(model="m"), ir.Report())
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def data_lines(body: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body (CRLF tolerated)."""
    text = body.decode().replace("\r\n", "\n")
    return [
        line[len("data:") :].strip()
        for block in text.split("\n\n")
        for line in block.split("\n")
        if line.startswith("data:")
    ]


def recorded_stream(body: bytes) -> dict[str, Any]:
    """What a recorded stream contains, read straight from its chunks."""
    text: list[str] = []
    thought: list[str] = []
    calls: dict[Any, dict[str, Any]] = {}
    order: list[Any] = []
    usage: dict[str, Any] | None = None
    finish: str | None = None
    for payload in data_lines(body):
        if payload == "[DONE]":
            break
        data = json.loads(payload)
        if isinstance(data.get("usage"), dict):
            usage = data["usage"]
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            for key in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(key), str):
                    thought.append(delta[key])
                    break
            content = delta.get("content")
            if isinstance(content, str):
                text.append(content)
            elif isinstance(content, list):
                for c in content:
                    if c.get("type") == "text":
                        text.append(c["text"])
                    elif c.get("type") == "thinking":
                        thought.extend(t["text"] for t in c["thinking"])
            for tc in delta.get("tool_calls") or []:
                call_key: tuple[Any, Any] = (tc.get("index"), tc.get("id"))
                if not tc.get("id"):
                    call_key = next(k for k in reversed(order) if k[0] == tc.get("index"))
                if call_key not in calls:
                    calls[call_key] = {"id": tc["id"], "name": "", "arguments": ""}
                    order.append(call_key)
                fn = tc.get("function") or {}
                calls[call_key]["name"] += fn.get("name") or ""
                calls[call_key]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    return {
        "text": "".join(text),
        "reasoning": "".join(thought),
        "calls": [calls[k] for k in order],
        "usage": usage,
        "finish": finish,
    }


def summary(response: ir.Response) -> dict[str, Any]:
    """A response's content in the same shape as ``recorded_stream``."""
    return {
        "text": "".join(
            p.text
            for p in response.parts
            if isinstance(p, ir.Text) and not (p.native.get("openai-chat") or {}).get("refusal")
        ),
        "reasoning": "".join(p.text for p in response.parts if isinstance(p, ir.Reasoning)),
        "calls": [
            {"id": p.id, "name": p.name, "arguments": p.arguments}
            for p in response.parts
            if isinstance(p, ir.ToolCall)
        ],
    }
