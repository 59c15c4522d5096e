"""``usageMetadata`` ↔ IR ``Usage`` (edge cases 76–78 in docs/edge-cases.md).

Gemini counts thoughts apart from the answer: ``candidatesTokenCount`` excludes
``thoughtsTokenCount``, whereas the IR's ``output_tokens`` includes reasoning, so decoding adds
them and encoding subtracts them again. ``promptTokenCount`` already includes
``cachedContentTokenCount`` (the IR's arithmetic too). ``toolUsePromptTokenCount`` (tokens of
server-tool results the model read) is input the app pays for, so it is added to the input.
https://ai.google.dev/api/generate-content#UsageMetadata
"""

from __future__ import annotations

from typing import Any

from crosswire.ir import Usage


def _count(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def usage_from_metadata(meta: Any) -> Usage:
    """One ``usageMetadata`` object; absent counts stay None (a later chunk's counts replace
    earlier ones through ``Usage.merged``, never added: edge case 78)."""
    if not isinstance(meta, dict):
        return Usage()
    prompt = _count(meta, "promptTokenCount")
    tool_prompt = _count(meta, "toolUsePromptTokenCount")
    candidates = _count(meta, "candidatesTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    input_tokens = (
        None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0)
    )
    output = (
        None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    )
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output,
        cache_read_tokens=_count(meta, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def input_usage(meta: Any) -> Usage:
    """The input side only (for ``ResponseStart``: known from the first chunk on)."""
    usage = usage_from_metadata(meta)
    return Usage(input_tokens=usage.input_tokens, cache_read_tokens=usage.cache_read_tokens)


def metadata_from_usage(usage: Usage) -> dict[str, Any] | None:
    """The ``usageMetadata`` a Gemini client sees; None when nothing is known."""
    out: dict[str, Any] = {}
    if usage.input_tokens is not None:
        out["promptTokenCount"] = usage.input_tokens
    if usage.output_tokens is not None:
        out["candidatesTokenCount"] = max(0, usage.output_tokens - (usage.reasoning_tokens or 0))
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.input_tokens is not None or usage.output_tokens is not None:
        out["totalTokenCount"] = (usage.input_tokens or 0) + (usage.output_tokens or 0)
    return out or None
