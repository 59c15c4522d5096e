"""Header access that costs one pass: mitmproxy's ``Headers`` mapping API lowers every field on
every lookup, so iterating ``.items()`` is quadratic in the number of headers — and provider
answers carry dozens (Anthropic's rate-limit headers alone are over twenty). The engine reads
``fields`` once instead (docs/mitmproxy.md §16).
"""

from __future__ import annotations

from mitmproxy import http


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def pairs(headers: http.Headers) -> list[tuple[str, str]]:
    """Every field, in order, names as sent."""
    return [(_text(k), _text(v)) for k, v in headers.fields]


def lowered(headers: http.Headers) -> dict[str, str]:
    """Lower-case name → value (a repeated field keeps its last value)."""
    return {_text(k).lower(): _text(v) for k, v in headers.fields}


def build(items: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(_raw(k), _raw(v)) for k, v in items])


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
