"""Token usage and stop reasons, both directions (whole answers and streams share them).

Usage object: https://docs.anthropic.com/en/api/messages#response-usage

Arithmetic (edge 76): Anthropic's ``input_tokens`` *excludes* cache reads and writes, the IR's
includes them, so decoding adds ``cache_read_input_tokens + cache_creation_input_tokens`` and
encoding sends ``Usage.uncached_input_tokens``. ``output_tokens`` already includes thinking
(``output_tokens_details.thinking_tokens`` is the IR's ``reasoning_tokens``).

Streams (edge 79): ``message_delta.usage`` holds cumulative totals whose fields may be absent or
null, so the decoder keeps the *wire* counters and updates only the fields present — adding the
cache counts to a delta's ``input_tokens`` alone would lose the cache read at the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswire import ir
from crosswire.protocols.anthropic.mapping import STOP_IN, STOP_OUT
from crosswire.protocols.common import as_dict


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(slots=True)
class WireUsage:
    """Anthropic's own counters, as last reported."""

    uncached: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    output: int | None = None
    thinking: int | None = None

    def update(self, raw: Any) -> None:
        """Fields present (and not null) replace the earlier values."""
        if not isinstance(raw, dict):
            return
        for attr, key in (
            ("uncached", "input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_write", "cache_creation_input_tokens"),
            ("output", "output_tokens"),
        ):
            value = _int(raw.get(key))
            if value is not None:
                setattr(self, attr, value)
        thinking = _int(as_dict(raw.get("output_tokens_details")).get("thinking_tokens"))
        if thinking is not None:
            self.thinking = thinking

    def ir(self) -> ir.Usage:
        total = None
        if self.uncached is not None:
            total = self.uncached + (self.cache_read or 0) + (self.cache_write or 0)
        return ir.Usage(
            input_tokens=total,
            output_tokens=self.output,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            reasoning_tokens=self.thinking,
        )


def usage_in(raw: Any) -> ir.Usage:
    wire = WireUsage()
    wire.update(raw)
    return wire.ir()


def usage_out(usage: ir.Usage, *, output_default: int = 0) -> dict[str, Any]:
    """The wire ``usage`` object; cache counters only when known (the SDK has them optional,
    and a decoder must not read an unknown as a measured 0)."""
    out: dict[str, Any] = {"input_tokens": usage.uncached_input_tokens or 0}
    if usage.cache_write_tokens is not None:
        out["cache_creation_input_tokens"] = usage.cache_write_tokens
    if usage.cache_read_tokens is not None:
        out["cache_read_input_tokens"] = usage.cache_read_tokens
    out["output_tokens"] = (
        usage.output_tokens if usage.output_tokens is not None else output_default
    )
    if usage.reasoning_tokens is not None:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def finish_in(stop_reason: Any, stop_sequence: Any, has_calls: bool) -> ir.Finish:
    """A tool call makes the reason ``tool_calls`` even when the wire says ``end_turn``
    (edge 18); unknown reasons are a ``stop`` with the raw value kept."""
    raw = stop_reason if isinstance(stop_reason, str) else None
    reason = STOP_IN.get(raw, "stop") if raw else "stop"
    if has_calls and reason == "stop":
        reason = "tool_calls"
    sequence = stop_sequence if isinstance(stop_sequence, str) else None
    return ir.Finish(reason=reason, raw=raw, stop_sequence=sequence)


def finish_out(finish: ir.Finish, has_calls: bool) -> tuple[str, str | None]:
    """``(stop_reason, stop_sequence)``: ``tool_use`` whenever a tool call went out (edge 18);
    ``stop_sequence`` only with the matched sequence, else ``end_turn`` (edge 75)."""
    if has_calls and finish.reason in ("stop", "tool_calls", "stop_sequence"):
        return "tool_use", None
    if finish.reason == "stop_sequence":
        if finish.stop_sequence:
            return "stop_sequence", finish.stop_sequence
        return "end_turn", None
    if finish.reason == "tool_calls":
        return "end_turn", None  # no tool_use block went out: the client has nothing to run
    return STOP_OUT.get(finish.reason, "end_turn"), None


def stop_details_text(details: dict[str, Any]) -> str:
    """A refusal's ``stop_details`` in words, for the report (the explanation cut short)."""
    category = details.get("category")
    explanation = details.get("explanation")
    text = f"{details.get('type') or 'stop'} ({category or 'no category'})"
    if isinstance(explanation, str) and explanation:
        text += f": {explanation[:160]}"
    return text
