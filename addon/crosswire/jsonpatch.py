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

#: A top-level scalar's value after its key: ``plain`` is the text of a string without escapes
#: or control characters (its bytes are its text); ``value`` is any scalar, as written.
_SCALAR = (
    rb'(?P<value>"(?P<plain>[^"\\\x00-\x1f]*)"|"(?:[^"\\]|\\.)*"'
    rb"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)?"
)


def set_top_level(body: bytes, key: str, value: Any) -> bytes | None:
    """``body`` with the top-level ``key`` set to ``value``; None when the key is absent."""
    found = _top_values(body, (key,))[0]
    if found is None or found.group("value") is None:
        return None
    start, end = found.span("value")
    return body[:start] + json.dumps(value, ensure_ascii=False).encode() + body[end:]


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
    plain = found.group("plain")
    if plain is not None:  # what json.loads would return, for less
        try:
            return plain.decode()
        except UnicodeDecodeError:
            return None
    raw = found.group("value")
    if raw is None:
        return None
    if raw in _LITERALS:
        return _LITERALS[raw]
    try:
        return json.loads(raw)
    except ValueError:
        return None


#: Per set of keys: the pattern that finds any of them, and the keys as bytes.
_PATTERNS: dict[tuple[str, ...], tuple[re.Pattern[bytes], tuple[bytes, ...]]] = {}


def _top_values(body: bytes, keys: tuple[str, ...]) -> list[re.Match[bytes] | None]:
    """For each key, its top-level occurrence (the value in group ``value``, None when it is
    not a scalar), all found in one scan. A key found once is taken as it is; one found
    several times is the occurrence at depth 1."""
    known = _PATTERNS.get(keys)
    if known is None:
        names = tuple(k.encode() for k in keys)
        alternatives = b"|".join(re.escape(name) for name in names)
        pattern = re.compile(b'"(' + alternatives + rb')"\s*:\s*' + _SCALAR, re.S)
        known = _PATTERNS[keys] = (pattern, names)
    pattern, names = known
    first: dict[bytes, re.Match[bytes]] = {}
    again: set[bytes] | None = None
    for m in pattern.finditer(body):
        name = m.group(1)
        if name not in first:
            first[name] = m
        elif again is None:
            again = {name}
        else:
            again.add(name)
    out = [first.get(name) for name in names]
    if again is not None:  # rare: the key also occurs inside (a tool schema, a message)
        for name in again:
            out[names.index(name)] = next(
                (
                    m
                    for m in pattern.finditer(body)
                    if m.group(1) == name and depth_at(body, m.start()) == 1
                ),
                None,
            )
    return out


_LITERALS: dict[bytes, Any] = {b"true": True, b"false": False, b"null": None}
