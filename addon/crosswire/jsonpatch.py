"""Change one top-level field of a JSON body without re-serialising the rest.

Why: a same-protocol passthrough promises a byte-identical body except for the model (and a
clamped token limit). Re-dumping a parsed body would reorder nothing in CPython but would
still change whitespace, number formatting and escapes — and cost time on megabyte bodies
full of base64 images. A regex finds the key; only when the key occurs more than once is the
body scanned to find the occurrence at depth 1.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crosswire.jsonscan import depth_at

_VALUE = re.compile(
    rb'\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)', re.S
)


def set_top_level(body: bytes, key: str, value: Any) -> bytes | None:
    """``body`` with the top-level ``key`` set to ``value``; None when the key is absent."""
    found = _top_value(body, key)
    if found is None:
        return None
    new = json.dumps(value, ensure_ascii=False).encode()
    return body[: found.start(1)] + new + body[found.end(1) :]


def get_top_level(body: bytes, key: str) -> Any:
    """The value of a top-level scalar ``key`` (string, number, bool, null) without parsing
    the whole body; None when absent or not a scalar. Used on the request hot path to read
    ``model`` and ``stream`` of a passthrough body."""
    found = _top_value(body, key)
    if found is None:
        return None
    raw = found.group(1)
    if _PLAIN_STRING.fullmatch(raw):  # no escapes: what json.loads would return, for less
        try:
            return raw[1:-1].decode()
        except UnicodeDecodeError:
            return None
    if raw in _LITERALS:
        return _LITERALS[raw]
    try:
        return json.loads(raw)
    except ValueError:
        return None


_KEY_PATTERNS: dict[str, re.Pattern[bytes]] = {}


def _top_value(body: bytes, key: str) -> re.Match[bytes] | None:
    """Where the scalar value of the top-level ``key`` is (group 1); None when absent."""
    pattern = _KEY_PATTERNS.get(key)
    if pattern is None:
        pattern = _KEY_PATTERNS[key] = re.compile(b'"' + re.escape(key.encode()) + rb'"\s*:')
    candidates = list(pattern.finditer(body))
    if not candidates:
        return None
    match = (
        candidates[0]
        if len(candidates) == 1
        else next((m for m in candidates if depth_at(body, m.start()) == 1), None)
    )
    return None if match is None else _VALUE.match(body, match.end())


#: A JSON string with no escape and no control character: its text is its bytes.
_PLAIN_STRING = re.compile(rb'"[^"\\\x00-\x1f]*"')
_LITERALS: dict[bytes, Any] = {b"true": True, b"false": False, b"null": None}
