"""The SSE events the benches' loopback upstreams send: one text stream, OpenAI Chat or
Anthropic Messages, whose text deltas are given. Shared so that every bench measures the
proxy against the same bytes. Spelled as the providers spell them: compact JSON, and
Anthropic's data padded with spaces before its last brace (as in the recorded streams)."""

from __future__ import annotations

import json
from typing import Any


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def openai_events(texts: list[str]) -> list[bytes]:
    """An OpenAI Chat stream: role chunk, one chunk per text, finish chunk, ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        c = {
            "id": "chatcmpl-b",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + _compact(c).encode() + b"\n\n"

    return [
        chunk({"role": "assistant", "content": ""}, None),
        *(chunk({"content": t}, None) for t in texts),
        chunk({}, "stop"),
        b"data: [DONE]\n\n",
    ]


def anthropic_events(texts: list[str]) -> list[bytes]:
    """An Anthropic Messages stream with one text block: two head events, one delta per text,
    three tail events."""

    def ev(kind: str, data: dict[str, Any]) -> bytes:
        body = _compact({"type": kind, **data})
        if kind == "content_block_delta":
            body = body[:-1] + "       }"
        return f"event: {kind}\ndata: {body}\n\n".encode()

    msg = {
        "id": "msg_b",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    return [
        ev("message_start", {"message": msg}),
        ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        *(
            ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}})
            for t in texts
        ),
        ev("content_block_stop", {"index": 0}),
        ev(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(texts)},
            },
        ),
        ev("message_stop", {}),
    ]


def sse_events(anthropic: bool, texts: list[str]) -> list[bytes]:
    return anthropic_events(texts) if anthropic else openai_events(texts)
