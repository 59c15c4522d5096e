"""Whole Responses objects ⇄ IR (output items ⇄ parts)."""

from __future__ import annotations

import json
import time
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.common import as_dict, as_list, dumps, loads_upstream

NAME = "openai-responses"


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def usage_in(raw: Any) -> ir.Usage:
    if not isinstance(raw, dict):
        return ir.Usage()
    details = as_dict(raw.get("input_tokens_details"))
    out_details = as_dict(raw.get("output_tokens_details"))
    return ir.Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=_int(details.get("cached_tokens")),
        reasoning_tokens=_int(out_details.get("reasoning_tokens")),
    )


def usage_out(u: ir.Usage) -> dict[str, Any]:
    i, o = u.input_tokens or 0, u.output_tokens or 0
    return {
        "input_tokens": i,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens or 0,
            "cache_write_tokens": u.cache_write_tokens or 0,
        },
        "output_tokens": o,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
        "total_tokens": i + o,
    }


def finish_in(status: Any, incomplete: Any, has_calls: bool) -> ir.Finish:
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return ir.Finish(
            reason="content_filter" if reason == "content_filter" else "length", raw=str(reason)
        )
    if status == "failed":
        return ir.Finish(reason="error", raw="failed")
    return ir.Finish(reason="tool_calls" if has_calls else "stop", raw=str(status or "completed"))


def status_out(finish: ir.Finish) -> tuple[str, dict[str, Any] | None]:
    if finish.reason in ("length", "pause"):
        return "incomplete", {"reason": "max_output_tokens"}
    if finish.reason in ("content_filter", "refusal"):
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def item_to_parts(item: dict[str, Any]) -> list[ir.Part]:
    kind = item.get("type")
    if kind == "message":
        parts: list[ir.Part] = []
        for c in item.get("content") or []:
            if isinstance(c, dict) and c.get("type") in ("output_text", "refusal"):
                parts.append(ir.Text(text=str(c.get("text") or c.get("refusal") or "")))
        return parts
    if kind == "function_call":
        return [
            ir.ToolCall(
                id=str(item.get("call_id") or item.get("id") or ""),
                name=str(item.get("name") or ""),
                arguments=str(item.get("arguments") or ""),
                native={NAME: {"id": item["id"]}} if isinstance(item.get("id"), str) else {},
            )
        ]
    if kind == "reasoning":
        summary = as_list(item.get("summary"))
        text = "\n\n".join(str(s.get("text") or "") for s in summary if isinstance(s, dict))
        content = as_list(item.get("content"))
        text = text or "".join(str(c.get("text") or "") for c in content if isinstance(c, dict))
        enc = item.get("encrypted_content")
        return [
            ir.Reasoning(text=text, signature=enc if isinstance(enc, str) else None, origin=NAME)
        ]
    return [ir.Opaque(origin=NAME, data=item)]


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Responses answer is not a JSON object")
    parts: list[ir.Part] = []
    for item in data.get("output") or []:
        if isinstance(item, dict):
            parts += item_to_parts(item)
    has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
    return ir.Response(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        parts=tuple(parts),
        finish=finish_in(data.get("status"), data.get("incomplete_details"), has_calls),
        usage=usage_in(data.get("usage")),
        created=_int(data.get("created_at")),
    )


def part_to_item(part: ir.Part, n: int) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {
            "type": "message",
            "id": f"msg_{n}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": part.text, "annotations": []}],
        }
    if isinstance(part, ir.ToolCall):
        fc = (part.native.get(NAME) or {}).get("id") or f"fc_{n}"
        return {
            "type": "function_call",
            "id": fc,
            "call_id": part.id,
            "name": part.name,
            "arguments": part.arguments or "{}",
            "status": "completed",
        }
    if isinstance(part, ir.Reasoning):
        item: dict[str, Any] = {
            "type": "reasoning",
            "id": f"rs_{n}",
            "summary": [{"type": "summary_text", "text": part.text}] if part.text else [],
        }
        if part.origin == NAME and part.signature:
            item["encrypted_content"] = part.signature
        return item
    if isinstance(part, ir.Opaque) and part.origin == NAME:
        return dict(part.data)
    return None


def response_object(
    rid: str,
    model: str,
    created: int,
    items: list[dict[str, Any]],
    finish: ir.Finish | None,
    usage: ir.Usage | None,
) -> dict[str, Any]:
    status, incomplete = status_out(finish) if finish else ("in_progress", None)
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "model": model,
        "output": items,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage_out(usage) if usage is not None else None,
    }


def response_id(rid: str) -> str:
    return rid if rid.startswith("resp_") else f"resp_{rid or 'crosswire'}"


def encode(response: ir.Response, request: ir.Request) -> bytes:
    items = [i for i in (part_to_item(p, n) for n, p in enumerate(response.parts)) if i is not None]
    obj = response_object(
        response_id(response.id),
        response.model or request.model,
        response.created or int(time.time()),
        items,
        response.finish,
        response.usage,
    )
    return dumps(obj)


_ = json
