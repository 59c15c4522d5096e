"""Token usage and finish reasons, both directions (whole answers and streams share them).

Usage object: https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
IR arithmetic (edge 76–79): ``input_tokens`` includes cached tokens and ``output_tokens``
includes reasoning — exactly OpenAI's ``prompt_tokens`` and ``completion_tokens``, so the
numbers pass through unchanged and only the details move.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.protocols.common import as_dict
from crosswire.protocols.openai_chat.mapping import FINISH_IN, FINISH_OUT


def usage_in(raw: Any) -> ir.Usage:
    if not isinstance(raw, dict):
        return ir.Usage()
    prompt_details = as_dict(raw.get("prompt_tokens_details"))
    completion_details = as_dict(raw.get("completion_tokens_details"))
    cached = _int(prompt_details.get("cached_tokens"))
    if cached is None:
        cached = _int(raw.get("prompt_cache_hit_tokens"))  # DeepSeek
    return ir.Usage(
        input_tokens=_int(raw.get("prompt_tokens")),
        output_tokens=_int(raw.get("completion_tokens")),
        cache_read_tokens=cached,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
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


def finish_in(raw: Any, has_calls: bool, choice: dict[str, Any]) -> ir.Finish:
    """The IR finish of one choice. A tool call makes it ``tool_calls`` even when the server
    says ``stop`` (edge 18, 23); vLLM ``stop_reason`` / SGLang ``matched_stop`` name the stop
    sequence that ended it (edge 75)."""
    raw_reason = raw if isinstance(raw, str) else None
    reason = FINISH_IN.get(raw_reason, "stop") if raw_reason else "stop"
    if has_calls and reason in ("stop", "tool_calls"):
        return ir.Finish(reason="tool_calls", raw=raw_reason)
    if reason == "stop":
        matched = choice.get("stop_reason")
        if not isinstance(matched, str):
            matched = choice.get("matched_stop")
        if isinstance(matched, str):
            return ir.Finish(reason="stop_sequence", raw=raw_reason, stop_sequence=matched)
    return ir.Finish(reason=reason, raw=raw_reason)


def finish_out(
    finish: ir.Finish, has_calls: bool, table: Mapping[ir.FinishReason, str] = FINISH_OUT
) -> str:
    if has_calls and finish.reason in ("stop", "tool_calls", "stop_sequence"):
        return "tool_calls"
    return table.get(finish.reason, "stop")
