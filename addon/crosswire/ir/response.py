"""A model answer, independent of any wire format.

Usage is normalised to OpenAI's arithmetic because it is the one that adds up: ``input_tokens``
*includes* cached tokens (Anthropic's excludes them — its codec converts), and
``output_tokens`` *includes* reasoning (Gemini reports thoughts separately — its codec adds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crosswire.ir.parts import Native, Part, no_native

#: Normalised finish reasons. ``pause`` = Anthropic ``pause_turn`` (the client must continue,
#: never a clean stop); ``error`` = the model produced a malformed call or the upstream failed.
FinishReason = Literal[
    "stop", "length", "tool_calls", "content_filter", "stop_sequence", "pause", "refusal", "error"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """Why the answer ended: the normalised ``reason``, the upstream's ``raw`` value, and the
    matched stop sequence when known."""

    reason: FinishReason
    raw: str | None = None
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts; ``None`` = not reported. See the module docstring for the arithmetic."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: True when ``input_tokens`` is a local estimate (no upstream count yet).
    estimated: bool = False

    def merged(self, newer: Usage) -> Usage:
        """Fields present in ``newer`` win; absent ones keep their value (cumulative streams
        like Anthropic's ``message_delta`` may omit fields)."""
        return Usage(
            input_tokens=_pick(newer.input_tokens, self.input_tokens),
            output_tokens=_pick(newer.output_tokens, self.output_tokens),
            cache_read_tokens=_pick(newer.cache_read_tokens, self.cache_read_tokens),
            cache_write_tokens=_pick(newer.cache_write_tokens, self.cache_write_tokens),
            reasoning_tokens=_pick(newer.reasoning_tokens, self.reasoning_tokens),
            estimated=newer.estimated if newer.input_tokens is not None else self.estimated,
        )

    @property
    def uncached_input_tokens(self) -> int | None:
        """Input not served from or written to a cache (Anthropic's ``input_tokens``)."""
        if self.input_tokens is None:
            return None
        return max(
            0, self.input_tokens - (self.cache_read_tokens or 0) - (self.cache_write_tokens or 0)
        )


def _pick(new: int | None, old: int | None) -> int | None:
    return old if new is None else new


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A whole answer (one choice/candidate)."""

    id: str
    model: str
    parts: tuple[Part, ...] = ()
    finish: Finish = field(default_factory=lambda: Finish(reason="stop"))
    usage: Usage = field(default_factory=Usage)
    created: int | None = None
    native: Native = field(default_factory=no_native)
    extra: Mapping[str, Any] = field(default_factory=dict)
