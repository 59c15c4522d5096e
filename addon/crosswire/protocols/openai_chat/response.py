"""Whole chat completions ⇄ IR, and the usage object both directions."""

from __future__ import annotations

import time
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.common import as_dict, as_list, dumps, loads_upstream
from crosswire.protocols.openai_chat.mapping import FINISH_IN, FINISH_OUT

NAME = "openai-chat"


def usage_in(raw: Any) -> ir.Usage:
    if not isinstance(raw, dict):
        return ir.Usage()
    details = as_dict(raw.get("prompt_tokens_details"))
    out_details = as_dict(raw.get("completion_tokens_details"))
    return ir.Usage(
        input_tokens=_int(raw.get("prompt_tokens")),
        output_tokens=_int(raw.get("completion_tokens")),
        cache_read_tokens=_int(details.get("cached_tokens"))
        or _int(raw.get("prompt_cache_hit_tokens")),
        reasoning_tokens=_int(out_details.get("reasoning_tokens")),
    )


def usage_out(usage: ir.Usage) -> dict[str, Any]:
    prompt = usage.input_tokens or 0
    completion = usage.output_tokens or 0
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.cache_read_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finish_in(raw: str | None, has_calls: bool, choice: dict[str, Any]) -> ir.Finish:
    if has_calls and raw in (None, "stop", "tool_calls", "function_call", "eos"):
        return ir.Finish(reason="tool_calls", raw=raw)
    reason = FINISH_IN.get(raw or "stop", "stop")
    matched = (
        choice.get("stop_reason")
        if isinstance(choice.get("stop_reason"), str)
        else choice.get("matched_stop")
    )
    if reason == "stop" and isinstance(matched, str):
        return ir.Finish(reason="stop_sequence", raw=raw, stop_sequence=matched)  # edge 75
    return ir.Finish(reason=reason, raw=raw)


def finish_out(finish: ir.Finish, has_calls: bool) -> str:
    if has_calls and finish.reason in ("stop", "tool_calls", "stop_sequence"):
        return "tool_calls"
    return FINISH_OUT.get(finish.reason, "stop")


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("chat completion is not a JSON object")
    choices = data.get("choices")
    choice = (
        choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    )
    msg = as_dict(choice.get("message"))
    parts: list[ir.Part] = []
    reasoning = (
        msg.get("reasoning_content")
        if isinstance(msg.get("reasoning_content"), str)
        else msg.get("reasoning")
    )
    if isinstance(reasoning, str) and reasoning:
        parts.append(ir.Reasoning(text=reasoning, origin=NAME))
    content = msg.get("content")
    if isinstance(content, str) and content:
        parts.append(ir.Text(text=content))
    elif isinstance(content, list):  # Mistral reasoning chunks
        for chunk in content:
            if isinstance(chunk, dict) and chunk.get("type") == "thinking":
                text = "".join(
                    t.get("text", "") for t in chunk.get("thinking") or [] if isinstance(t, dict)
                )
                parts.append(ir.Reasoning(text=text, origin=NAME))
            elif isinstance(chunk, dict) and chunk.get("type") == "text":
                parts.append(ir.Text(text=str(chunk.get("text") or "")))
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(ir.Text(text=refusal, native={NAME: {"refusal": True}}))
    rid = str(data.get("id") or "")
    calls = as_list(msg.get("tool_calls"))
    for i, tc in enumerate(calls):
        if not isinstance(tc, dict):
            continue
        fn = as_dict(tc.get("function"))
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            import json

            args = json.dumps(args)
        native = {k: v for k, v in tc.items() if k not in ("id", "type", "function", "index")}
        parts.append(
            ir.ToolCall(
                id=str(tc.get("id") or ids.derived_call_id(rid, i)),
                name=str(fn.get("name") or ""),
                arguments=args or "",
                native={NAME: native} if native else {},
            )
        )
    return ir.Response(
        id=rid,
        model=str(data.get("model") or ""),
        parts=tuple(parts),
        finish=finish_in(choice.get("finish_reason"), bool(calls), choice),
        usage=usage_in(data.get("usage")),
        created=_int(data.get("created")),
    )


def encode(response: ir.Response, request: ir.Request) -> bytes:
    text = "".join(
        p.text
        for p in response.parts
        if isinstance(p, ir.Text) and not (p.native.get(NAME) or {}).get("refusal")
    )
    refusal = "".join(
        p.text
        for p in response.parts
        if isinstance(p, ir.Text) and (p.native.get(NAME) or {}).get("refusal")
    )
    calls = [p for p in response.parts if isinstance(p, ir.ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if refusal or response.finish.reason == "refusal":
        message["refusal"] = refusal or None
    reasoning = [p for p in response.parts if isinstance(p, ir.Reasoning)]
    if reasoning:
        joined = "".join(r.text for r in reasoning)
        if joined:
            message["reasoning_content"] = joined
        carrier = thinking_blocks(reasoning)
        if carrier:
            message["thinking_blocks"] = carrier
    if calls:
        message["tool_calls"] = [
            {
                **(c.native.get(NAME) or {}),
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments or "{}"},
            }
            for c in calls
        ]
    body = {
        "id": response.id
        if response.id.startswith("chatcmpl")
        else f"chatcmpl-{response.id or 'crosswire'}",
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model or request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_out(response.finish, bool(calls)),
            }
        ],
        "usage": usage_out(response.usage),
    }
    return dumps(body)


def thinking_blocks(reasoning: list[ir.Reasoning]) -> list[dict[str, Any]]:
    """The carrier for signed reasoning through an OpenAI client (docs/codecs.md)."""
    out: list[dict[str, Any]] = []
    if not any(r.signature or r.redacted for r in reasoning):
        return out
    for r in reasoning:
        if r.redacted is not None:
            out.append({"type": "redacted_thinking", "data": r.redacted, "provider": r.origin})
        else:
            out.append(
                {
                    "type": "thinking",
                    "thinking": r.text,
                    "signature": r.signature,
                    "provider": r.origin,
                }
            )
    return out
