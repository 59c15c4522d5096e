"""Anthropic whole messages ⇄ IR, and the usage arithmetic (input excludes cache on the wire)."""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.anthropic.mapping import STOP_IN, STOP_OUT
from crosswire.protocols.common import as_list, dumps, loads_upstream

NAME = "anthropic"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_in(raw: Any) -> ir.Usage:
    """Only the fields present (``message_delta`` usage may omit some: edge 79)."""
    if not isinstance(raw, dict):
        return ir.Usage()
    uncached = _int(raw.get("input_tokens"))
    read = _int(raw.get("cache_read_input_tokens"))
    write = _int(raw.get("cache_creation_input_tokens"))
    total = None if uncached is None else uncached + (read or 0) + (write or 0)
    return ir.Usage(
        input_tokens=total,
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def usage_out(usage: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.uncached_input_tokens or 0,
        "output_tokens": usage.output_tokens or 0,
        "cache_creation_input_tokens": usage.cache_write_tokens or 0,
        "cache_read_input_tokens": usage.cache_read_tokens or 0,
    }


def finish_in(stop_reason: Any, stop_sequence: Any, has_calls: bool) -> ir.Finish:
    raw = stop_reason if isinstance(stop_reason, str) else None
    reason = STOP_IN.get(raw or "end_turn", "stop")
    if has_calls and reason == "stop":
        reason = "tool_calls"
    return ir.Finish(
        reason=reason,
        raw=raw,
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
    )


def finish_out(finish: ir.Finish, has_calls: bool) -> tuple[str, str | None]:
    if has_calls and finish.reason in ("stop", "tool_calls", "stop_sequence"):
        return "tool_use", None  # edge 18
    if finish.reason == "stop_sequence" and not finish.stop_sequence:
        return "end_turn", None
    return STOP_OUT.get(finish.reason, "end_turn"), finish.stop_sequence


def block_to_part(block: dict[str, Any]) -> ir.Part:
    kind = block.get("type")
    if kind == "text":
        extra = {k: v for k, v in block.items() if k not in ("type", "text")}
        return ir.Text(text=str(block.get("text") or ""), native={NAME: extra} if extra else {})
    if kind == "thinking":
        return ir.Reasoning(
            text=str(block.get("thinking") or ""),
            signature=block.get("signature") or None,
            origin=NAME,
        )
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=str(block.get("data") or ""), origin=NAME)
    if kind == "tool_use":
        return ir.ToolCall(
            id=str(block.get("id") or ""),
            name=str(block.get("name") or ""),
            arguments=json.dumps(block.get("input", {}), ensure_ascii=False),
        )
    return ir.Opaque(origin=NAME, data=block)


def part_to_block(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {**(part.native.get(NAME) or {}), "type": "text", "text": part.text}
    if isinstance(part, ir.Reasoning):
        if part.redacted is not None:
            if part.origin == NAME:
                return {"type": "redacted_thinking", "data": part.redacted}
            return None
        return {
            "type": "thinking",
            "thinking": part.text,
            "signature": part.signature if part.origin == NAME and part.signature else "",
        }
    if isinstance(part, ir.ToolCall):
        try:
            args = json.loads(part.arguments) if part.arguments.strip() else {}
        except ValueError:
            args = {"_raw_arguments": part.arguments}
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": args}
    if isinstance(part, ir.Opaque) and part.origin == NAME:
        return dict(part.data)
    return None


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Anthropic message is not a JSON object")
    blocks = as_list(data.get("content"))
    parts = tuple(block_to_part(b) for b in blocks if isinstance(b, dict))
    has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
    return ir.Response(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        parts=parts,
        finish=finish_in(data.get("stop_reason"), data.get("stop_sequence"), has_calls),
        usage=usage_in(data.get("usage")),
    )


def encode(response: ir.Response, request: ir.Request) -> bytes:
    blocks = [b for b in (part_to_block(p) for p in response.parts) if b is not None]
    has_calls = any(isinstance(p, ir.ToolCall) for p in response.parts)
    stop_reason, stop_sequence = finish_out(response.finish, has_calls)
    rid = response.id if response.id.startswith("msg_") else f"msg_{response.id or 'crosswire'}"
    return dumps(
        {
            "id": rid,
            "type": "message",
            "role": "assistant",
            "model": response.model or request.model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage_out(response.usage),
        }
    )
