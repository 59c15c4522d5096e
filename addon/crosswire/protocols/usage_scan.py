"""Token usage read off a same-protocol body without decoding it event by event.

A passthrough answer is forwarded untouched; for accounting the engine keeps the first and last
few kilobytes of a stream (or the tail of a whole body) and, at the end, finds the usage objects
in them. Every protocol puts its usage in named objects near the start (Anthropic's
``message_start``) or the end (everyone's last event), so this costs nothing per event. Each
codec builds its ``Wire.scan_usage`` from these helpers and its own usage reader, so the
arithmetic (cache included or not, reasoning added or not) is written once, in the codec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from crosswire.ir.response import Usage

_decoder = json.JSONDecoder()


def json_objects(keys: tuple[str, ...], reader: Callable[[Any], Usage]) -> Callable[[bytes], Usage]:
    """A scanner for protocols whose usage sits in objects under ``keys`` (``"usage": {…}``);
    later objects win field by field (cumulative streams)."""
    pattern = re.compile(rb'"(' + b"|".join(re.escape(k.encode()) for k in keys) + rb')"\s*:\s*\{')

    def scan(data: bytes) -> Usage:
        usage = Usage()
        text: str | None = None
        for match in pattern.finditer(data):
            if text is None:
                text = data.decode("utf-8", "replace")
            start = len(data[: match.end() - 1].decode("utf-8", "replace"))
            try:
                obj, _ = _decoder.raw_decode(text, start)
            except ValueError:
                continue  # cut by the head/tail window
            if isinstance(obj, dict):
                usage = usage.merged(reader(obj))
        return usage

    return scan


def top_level_counts(fields: tuple[str, str]) -> Callable[[bytes], Usage]:
    """A scanner for protocols whose counts are top-level integers of the final object
    (Ollama's ``prompt_eval_count`` / ``eval_count``): (input field, output field)."""
    pattern = re.compile(
        rb'"(' + b"|".join(re.escape(f.encode()) for f in fields) + rb')"\s*:\s*(\d+)'
    )
    names = (fields[0].encode(), fields[1].encode())

    def scan(data: bytes) -> Usage:
        counts = {m.group(1): int(m.group(2)) for m in pattern.finditer(data)}
        if not counts:
            return Usage()
        return Usage(input_tokens=counts.get(names[0]), output_tokens=counts.get(names[1]))

    return scan
