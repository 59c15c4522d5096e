"""Token usage read off a same-protocol answer without decoding it event by event.

A passthrough stream is forwarded untouched; for accounting the addon keeps its first and
last few kilobytes and, at the end, finds the ``usage`` objects in them. Every protocol puts
its usage in one or two named objects near the start (Anthropic's ``message_start``) or the
end (everyone's last event), so this costs nothing per event.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crosswire.ir.response import Usage

_USAGE_KEYS = re.compile(rb'"(usage|usageMetadata)"\s*:\s*\{')
_OLLAMA = re.compile(rb'"(prompt_eval_count|eval_count)"\s*:\s*(\d+)')
_decoder = json.JSONDecoder()


def scan(protocol: str, data: bytes) -> Usage:
    """The cumulative usage found in ``data`` (later objects win per field)."""
    usage = Usage()
    if protocol == "ollama":
        counts = {m.group(1): int(m.group(2)) for m in _OLLAMA.finditer(data)}
        if counts:
            usage = Usage(
                input_tokens=counts.get(b"prompt_eval_count"),
                output_tokens=counts.get(b"eval_count"),
            )
        return usage
    text = data.decode("utf-8", "replace")
    for match in _USAGE_KEYS.finditer(data):
        start = len(data[: match.end() - 1].decode("utf-8", "replace"))
        try:
            obj, _ = _decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict):
            usage = usage.merged(from_object(protocol, obj))
    return usage


def from_object(protocol: str, obj: dict[str, Any]) -> Usage:
    """One protocol's usage object in IR arithmetic (input includes cache)."""
    n = _int
    if protocol == "anthropic":
        read, write = (
            n(obj.get("cache_read_input_tokens")),
            n(obj.get("cache_creation_input_tokens")),
        )
        uncached = n(obj.get("input_tokens"))
        total = None if uncached is None else uncached + (read or 0) + (write or 0)
        return Usage(
            input_tokens=total,
            output_tokens=n(obj.get("output_tokens")),
            cache_read_tokens=read,
            cache_write_tokens=write,
        )
    if protocol == "gemini":
        thoughts = n(obj.get("thoughtsTokenCount"))
        cand = n(obj.get("candidatesTokenCount"))
        out = None if cand is None and thoughts is None else (cand or 0) + (thoughts or 0)
        return Usage(
            input_tokens=n(obj.get("promptTokenCount")),
            output_tokens=out,
            cache_read_tokens=n(obj.get("cachedContentTokenCount")),
            reasoning_tokens=thoughts,
        )
    if protocol == "openai-responses":
        details = obj.get("input_tokens_details") or {}
        out_details = obj.get("output_tokens_details") or {}
        return Usage(
            input_tokens=n(obj.get("input_tokens")),
            output_tokens=n(obj.get("output_tokens")),
            cache_read_tokens=n(details.get("cached_tokens"))
            if isinstance(details, dict)
            else None,
            reasoning_tokens=n(out_details.get("reasoning_tokens"))
            if isinstance(out_details, dict)
            else None,
        )
    # OpenAI chat, completions, FIM (Mistral): prompt/completion tokens.
    details = obj.get("prompt_tokens_details") or {}
    out_details = obj.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=n(obj.get("prompt_tokens")),
        output_tokens=n(obj.get("completion_tokens")),
        cache_read_tokens=n(details.get("cached_tokens")) if isinstance(details, dict) else None,
        reasoning_tokens=n(out_details.get("reasoning_tokens"))
        if isinstance(out_details, dict)
        else None,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Tap:
    """Keeps the head and a rolling tail of a stream: O(1) work per chunk."""

    __slots__ = ("head", "limit", "tail")

    def __init__(self, limit: int = 16384) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.limit = limit

    def add(self, data: bytes) -> None:
        if len(self.head) < self.limit:
            room = self.limit - len(self.head)
            self.head += data[:room]
            data = data[room:]
            if not data:
                return
        self.tail += data
        if len(self.tail) > 2 * self.limit:
            del self.tail[: len(self.tail) - self.limit]

    def usage(self, protocol: str) -> Usage:
        return scan(protocol, bytes(self.head)).merged(scan(protocol, bytes(self.tail)))
