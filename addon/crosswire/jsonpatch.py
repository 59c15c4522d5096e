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
    the whole body; None when absent or not a scalar."""
    return _scalar(_top_values(body, (key,))[0])


def get_top_levels(body: bytes, keys: tuple[str, ...]) -> list[Any]:
    """``get_top_level`` of each of ``keys``, in one scan of the body: the request hot path
    reads ``model`` and ``stream`` of every request, and a coding agent's body is 100 KB+."""
    return [_scalar(found) for found in _top_values(body, keys)]


def _scalar(found: re.Match[bytes] | None) -> Any:
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


_KEY_PATTERNS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def _top_value(body: bytes, key: str) -> re.Match[bytes] | None:
    """Where the scalar value of the top-level ``key`` is (group 1); None when absent."""
    return _top_values(body, (key,))[0]


def _top_values(body: bytes, keys: tuple[str, ...]) -> list[re.Match[bytes] | None]:
    """For each key, where its top-level scalar value is; one scan for all keys. A key found
    once is taken as it is; one found several times is the occurrence at depth 1."""
    pattern = _KEY_PATTERNS.get(keys)
    if pattern is None:
        names = b"|".join(re.escape(k.encode()) for k in keys)
        pattern = _KEY_PATTERNS[keys] = re.compile(b'"(' + names + rb')"\s*:')
    found: dict[bytes, list[re.Match[bytes]]] = {}
    for m in pattern.finditer(body):
        found.setdefault(m.group(1), []).append(m)
    out: list[re.Match[bytes] | None] = []
    for key in keys:
        candidates = found.get(key.encode())
        match = (
            None
            if not candidates
            else candidates[0]
            if len(candidates) == 1
            else next((m for m in candidates if depth_at(body, m.start()) == 1), None)
        )
        out.append(None if match is None else _VALUE.match(body, match.end()))
    return out


#: A JSON string with no escape and no control character: its text is its bytes.
_PLAIN_STRING = re.compile(rb'"[^"\\\x00-\x1f]*"')
_LITERALS: dict[bytes, Any] = {b"true": True, b"false": False, b"null": None}
