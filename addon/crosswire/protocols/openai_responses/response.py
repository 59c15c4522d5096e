"""Whole Responses objects ⇄ IR, and the pieces the stream encoder shares with them: usage,
status, the response envelope, output item ids.

Reference: https://platform.openai.com/docs/api-reference/responses/object
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.ir.ids import derived_call_id, safe_id
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import as_dict, as_list, dumps, loads_upstream, unix_time
from crosswire.protocols.openai_responses import errors, items, tools
from crosswire.protocols.openai_responses.mapping import (
    FINISH_FOR_INCOMPLETE,
    NAME,
    STATUS_FOR_FINISH,
)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


# ---- usage and status -------------------------------------------------------------------------


def usage_in(raw: Any) -> ir.Usage:
    """Responses usage is already in the IR's arithmetic: ``input_tokens`` includes cached
    tokens, ``output_tokens`` includes reasoning (edge 76 in docs/edge-cases.md)."""
    if not isinstance(raw, dict):
        return ir.Usage()
    details = as_dict(raw.get("input_tokens_details"))
    out_details = as_dict(raw.get("output_tokens_details"))
    return ir.Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=_int(details.get("cached_tokens")),
        cache_write_tokens=_int(details.get("cache_write_tokens")) or None,
        reasoning_tokens=_int(out_details.get("reasoning_tokens")),
    )


def usage_out(usage: ir.Usage) -> dict[str, Any]:
    i, o = usage.input_tokens or 0, usage.output_tokens or 0
    return {
        "input_tokens": i,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens or 0,
            "cache_write_tokens": usage.cache_write_tokens or 0,
        },
        "output_tokens": o,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": i + o,
    }


def finish_in(status: Any, incomplete: Any, has_calls: bool) -> ir.Finish:
    if status == "incomplete":
        reason = as_dict(incomplete).get("reason")
        raw = reason if isinstance(reason, str) else "incomplete"
        return ir.Finish(reason=FINISH_FOR_INCOMPLETE.get(raw, "length"), raw=raw)
    if status in ("failed", "cancelled"):
        return ir.Finish(reason="error", raw=status)
    raw_status = status if isinstance(status, str) else "completed"
    return ir.Finish(reason="tool_calls" if has_calls else "stop", raw=raw_status)


# ---- decode -----------------------------------------------------------------------------------


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("the Responses answer is not a JSON object")
    return response_in(data)


def response_in(data: dict[str, Any]) -> ir.Response:
    """A response object (a whole answer, or the ``response`` of ``response.completed``)."""
    rid = str(data.get("id") or "")
    parts: list[ir.Part] = []
    for n, item in enumerate(as_list(data.get("output"))):
        if isinstance(item, dict):
            parts += items.output_item_parts(item, derived_call_id(rid, n))
    has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
    return ir.Response(
        id=rid,
        model=str(data.get("model") or ""),
        parts=tuple(parts),
        finish=finish_in(data.get("status"), data.get("incomplete_details"), has_calls),
        usage=usage_in(data.get("usage")),
        created=unix_time(data.get("created_at")),
    )


# ---- encode -----------------------------------------------------------------------------------


def response_id(rid: str) -> str:
    if rid.startswith("resp_"):
        return rid
    return f"resp_{safe_id(rid)}" if rid else f"resp_{uuid.uuid4().hex}"


def item_id(prefix: str, wanted: Any, rid: str, position: int) -> str:
    """The upstream's own item id when it has the right prefix, else one derived from the
    response id and the output position (stable between the stream and its replay)."""
    if isinstance(wanted, str) and wanted.startswith(prefix):
        return wanted
    return derived_call_id(rid, position, prefix=f"{prefix}_")


def message_item(group: items.Group, rid: str, position: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "id": item_id("msg", group.item_id, rid, position),
        "status": "completed",
        "role": "assistant",
        "content": [items.output_content(p) for p in group.parts],
    }
    phase = items.own(group.parts[0]).get("phase")
    if phase:
        item["phase"] = phase
    return item


def reasoning_item(
    state: items.ReasoningState, wanted: Any, rid: str, position: int
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id("rs", wanted, rid, position),
        "summary": items.summary_list(state.summary),
    }
    if state.content:
        item["content"] = [{"type": "reasoning_text", "text": t} for t in state.content]
    encrypted = items.encrypted_for_client(state)
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def output_items(
    parts: tuple[ir.Part, ...], rid: str, report: ir.Report, declared: tools.Index
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for group in items.group_parts(parts):
        first = group.parts[0]
        n = len(out)
        if group.kind == "message":
            out.append(message_item(group, rid, n))
        elif group.kind == "reasoning":
            state = items.fold_reasoning(group.parts)
            if state.text or items.encrypted_for_client(state) is not None:
                out.append(reasoning_item(state, group.item_id, rid, n))
        elif group.kind == "call" and isinstance(first, ir.ToolCall):
            prefix = "ctc" if declared.is_freeform(first) else "fc"
            call = declared.call_item(first, item_id(prefix, group.item_id, rid, n))
            if call["type"] == "function_call":
                call["status"] = "completed"  # a custom_tool_call has no status
            out.append(call)
        elif group.kind == "item" and isinstance(first, ir.Opaque):
            out.append(items.opaque_item(first))
        else:
            note_dropped(first, report)
    return out


def note_dropped(part: ir.Part, report: ir.Report) -> None:
    if isinstance(part, ir.Opaque):
        report.dropped(
            str(part.data.get("type") or "block"), f"a {part.origin} block {NAME} cannot carry"
        )
    elif isinstance(part, ir.File):
        report.dropped(f"{part.kind} output", f"{NAME} answers carry no generated files")


def request_echo(request: ir.Request) -> dict[str, Any]:
    """The request fields a response object repeats (built once per stream)."""
    native = request.native.get(NAME) or {}
    choice: Any = native.get("tool_choice", "auto")
    if request.tool_choice is not None:
        c = request.tool_choice
        choice = {"type": "function", "name": c.name} if c.mode == "tool" else c.mode
    reasoning = None
    if request.reasoning is not None:
        r = request.reasoning
        effort = "none" if r.enabled is False else r.effort
        reasoning = {"effort": effort, "summary": r.summary}
    return {
        "instructions": None,
        "max_output_tokens": request.params.max_tokens,
        "parallel_tool_calls": request.parallel_tool_calls
        if request.parallel_tool_calls is not None
        else True,
        "previous_response_id": None,
        "reasoning": reasoning,
        "store": native.get("store") is True,
        "temperature": request.params.temperature,
        "tool_choice": choice,
        "tools": [],
        "top_p": request.params.top_p,
        "metadata": native.get("metadata") if isinstance(native.get("metadata"), dict) else {},
    }


def response_object(
    rid: str,
    model: str,
    created: int,
    echo: dict[str, Any],
    output: list[dict[str, Any]],
    finish: ir.Finish | None,
    usage: ir.Usage | None,
    error: ir.Error | None = None,
) -> dict[str, Any]:
    """The response envelope: in progress (no finish), completed/incomplete, or failed."""
    status, reason = (
        STATUS_FOR_FINISH.get(finish.reason, ("completed", None))
        if finish
        else ("in_progress", None)
    )
    failure: dict[str, Any] | None = None
    if error is not None:
        status, failure = "failed", errors.failed_error(error)
    elif status == "failed" and finish is not None:
        failure = {
            "code": "server_error",
            "message": f"the model's answer ended with an error ({finish.raw or finish.reason})",
        }
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": failure,
        "incomplete_details": {"reason": reason} if reason else None,
        **echo,
        "model": model,
        "output": output,
        "usage": usage_out(usage) if usage is not None else None,
    }


def encode(
    call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
) -> bytes:
    rid = response_id(response.id)
    return dumps(
        response_object(
            rid,
            response.model or request.model,
            response.created or int(time.time()),
            request_echo(request),
            output_items(response.parts, rid, report, tools.Index(request)),
            response.finish,
            response.usage,
        )
    )
