"""Whole Anthropic messages ⇄ IR ``Response``.

Message object: https://docs.anthropic.com/en/api/messages#response

Decoding keeps text blocks' ``citations`` in ``native``, thinking signatures and redacted data
exactly, and every block it has no part for (``server_tool_use``, ``web_search_tool_result``…) as
an ``Opaque`` part. Encoding for an Anthropic app shows reasoning of any origin as thinking
blocks; another provider's opaque state rides in the signature inside a crosswire envelope so
that the app's echo brings it home (see ``envelope``).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols import envelope
from crosswire.protocols.anthropic.content_encode import tool_input
from crosswire.protocols.anthropic.mapping import NAME
from crosswire.protocols.anthropic.usage import finish_in, finish_out, usage_in, usage_out
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import as_list, dumps, dumps_str, loads_upstream

_MODELLED = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)
_TEXT_KEYS = frozenset({"type", "text"})
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input"})


# ---- decode (upstream answers) ---------------------------------------------------------------


def block_to_part(block: dict[str, Any]) -> ir.Part:
    kind = block.get("type")
    if kind == "text":
        extra = {k: v for k, v in block.items() if k not in _TEXT_KEYS}
        text = block.get("text")
        return ir.Text(
            text=text if isinstance(text, str) else "", native={NAME: extra} if extra else {}
        )
    if kind == "thinking":
        thinking, signature = block.get("thinking"), block.get("signature")
        return ir.Reasoning(
            text=thinking if isinstance(thinking, str) else "",
            signature=signature if isinstance(signature, str) and signature else None,
            origin=NAME,
        )
    if kind == "redacted_thinking":
        data = block.get("data")
        return ir.Reasoning(redacted=data if isinstance(data, str) else "", origin=NAME)
    if kind == "tool_use":
        extra = {k: v for k, v in block.items() if k not in _TOOL_USE_KEYS}
        args = block.get("input")
        return ir.ToolCall(
            id=str(block.get("id") or ""),
            name=str(block.get("name") or ""),
            arguments="" if args is None else dumps_str(args),
            native={NAME: extra} if extra else {},
        )
    return ir.Opaque(origin=NAME, data=block)


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("the Anthropic answer is not a JSON object")
    if data.get("type") == "error":
        raise UpstreamProtocolError("the Anthropic answer is an error object with status 200")
    parts = tuple(block_to_part(b) for b in as_list(data.get("content")) if isinstance(b, dict))
    has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
    extra = {k: v for k, v in data.items() if k not in _MODELLED and v is not None}
    return ir.Response(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        parts=parts,
        finish=finish_in(data.get("stop_reason"), data.get("stop_sequence"), has_calls),
        usage=usage_in(data.get("usage")),
        native={NAME: extra} if extra else {},
    )


# ---- encode (answers to the app) -------------------------------------------------------------


def message_id(raw: str) -> str:
    return raw if raw.startswith("msg_") else f"msg_{raw or 'crosswire'}"


def foreign_signature(part: ir.Reasoning) -> str:
    """The ``signature`` of a thinking block that shows another provider's reasoning: its
    opaque state in an envelope, or ``""`` when it has none (plain reasoning text)."""
    if not part.signature and part.redacted is None:
        return ""
    return envelope.pack(part.origin or "unknown", part.signature, part.redacted)


def reasoning_block(part: ir.Reasoning) -> dict[str, Any]:
    """Thinking as an Anthropic app sees it. Another provider's reasoning is always a
    ``thinking`` block (its state in the signature), so whole and streamed answers agree."""
    if part.origin == NAME:
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    return {"type": "thinking", "thinking": part.text, "signature": foreign_signature(part)}


def part_to_block(part: ir.Part, report: ir.Report) -> dict[str, Any] | None:
    match part:
        case ir.Text():
            return {**(part.native.get(NAME) or {}), "type": "text", "text": part.text}
        case ir.Reasoning():
            return reasoning_block(part)
        case ir.ToolCall():
            return {
                **(part.native.get(NAME) or {}),
                "type": "tool_use",
                "id": part.id,
                "name": part.name,
                "input": tool_input(part.arguments, report),
            }
        case ir.Opaque() if part.origin == NAME:
            return dict(part.data)
    report.dropped(
        f"{getattr(part, 'origin', None) or part.type} {part.type}",
        "an answer part an Anthropic app cannot receive",
    )
    return None


def encode(
    call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
) -> bytes:
    blocks = [b for b in (part_to_block(p, report) for p in response.parts) if b is not None]
    has_calls = any(b["type"] == "tool_use" for b in blocks)
    stop_reason, stop_sequence = finish_out(response.finish, has_calls)
    if response.finish.reason == "error":
        report.renamed(
            "stop_reason", "the upstream ended with an error; Anthropic has no such reason"
        )
    body: dict[str, Any] = {
        **(response.native.get(NAME) or {}),
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model or request.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_out(response.usage),
    }
    return dumps(body)
