"""A message body as display lines: indented JSON, a numbered event list (SSE, NDJSON, a
Gemini JSON array), or text — long base64 and text abbreviated, gzip inflated within a bound,
so a 5 MB image or a cut-off stream never buries or breaks the view."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator

#: Events listed per stream; the Raw view always has the whole body.
MAX_EVENTS = 1500
#: Bodies above this are shown as the start of their text, not parsed.
PARSE_LIMIT = 8 * 1024 * 1024
#: Strings without spaces at least this long that look like base64 become ``<base64 12 kB>``.
BASE64_MIN = 120
#: Longer strings keep their first ``TEXT_KEEP`` characters.
TEXT_MAX = 4000
TEXT_KEEP = 2000
#: Nesting deeper than this is shown as ``"<…>"`` (keeps rendering recursion bounded).
MAX_DEPTH = 64

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_DATA_URL = re.compile(r"(data:[^,;]{0,100}(?:;[^,;]{0,100})*;base64,)(.*)", re.DOTALL)
_SSE_BLOCK = re.compile(r"\r\n\r\n|\n\n|\r\r")
_SSE_FIELD = re.compile(r"^(event|data|id|retry):", re.MULTILINE)


def body_lines(data: bytes, *, stream: bool = False) -> list[str]:
    """A body as display lines: indented JSON, a numbered event list, or text."""
    if not data:
        return ["(empty body)"]
    data = _inflate(data)
    if len(data) > PARSE_LIMIT:
        head = data[:65536].decode("utf-8", "replace")
        return [f"({_size(len(data))}: too large to parse, the start follows)", *head.splitlines()]
    text = data.decode("utf-8", "replace")
    if text.count("\ufffd") > max(8, len(text) // 20):
        return [f"(binary, {_size(len(data))}: see the Raw or Hex view)"]
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            if stream and isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return _numbered([("", v) for v in value])  # Gemini without alt=sse
            return json.dumps(_abbreviate(value), indent=2, ensure_ascii=False).splitlines()
    if _SSE_FIELD.search(text):
        events = _numbered(_sse_events(text), raw=True)
        if not text.endswith(("\n\n", "\r\n\r\n", "\r\r")):  # cut by the bound, or upstream
            events.append("(the stored copy ends inside this event)")
        return events
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) > 1 and all(r.lstrip().startswith("{") for r in rows):
        return _numbered([("", r) for r in rows], raw=True)  # NDJSON (Ollama)
    if stripped.startswith("["):
        items = list(_array_items(stripped))
        if items:  # a streamed JSON array cut short by the stored-size bound
            return [*_numbered([("", v) for v in items]), "(the stored copy ends here)"]
    return [_abbreviate_text(line) for line in text.splitlines()]


def json_line(value: object) -> str:
    """One event's JSON on one line, long strings abbreviated."""
    return json.dumps(_abbreviate(value), ensure_ascii=False, separators=(", ", ": "))


def _json_or_text(payload: str) -> str:
    try:
        return json_line(json.loads(payload))
    except (ValueError, RecursionError):
        return _abbreviate_text(payload)


def _sse_events(text: str) -> list[tuple[str, object]]:
    """(event name, raw data) per SSE event; the data is parsed only if it is shown."""
    events: list[tuple[str, object]] = []
    for block in _SSE_BLOCK.split(text):
        event = ""
        data: list[str] = []
        for line in block.splitlines():
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value.strip()
            elif name == "data":
                data.append(value)
        if event or data:
            events.append((event, "\n".join(data)))
    return events


def _array_items(text: str) -> Iterator[object]:
    """The complete elements at the start of a JSON array whose end is missing."""
    decoder = json.JSONDecoder()
    pos = 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return
        yield value


def _numbered(events: list[tuple[str, object]], *, raw: bool = False) -> list[str]:
    """``#1 event {json}`` per event, in order; ``raw`` payloads are JSON text to parse."""
    out: list[str] = []
    for i, (event, payload) in enumerate(events[:MAX_EVENTS], 1):
        if raw:
            shown = _json_or_text(payload) if isinstance(payload, str) and payload else ""
        else:
            shown = json_line(payload)
        out.append(" ".join(p for p in (f"#{i}", event, shown) if p))
    if len(events) > MAX_EVENTS:
        out.append(f"… {len(events) - MAX_EVENTS} more events (see the Raw view)")
    return out


def _abbreviate(value: object, depth: int = 0) -> object:
    """The value with long base64 and text shortened, so a 5 MB image does not bury the view."""
    if isinstance(value, str):
        return _abbreviate_text(value)
    if depth >= MAX_DEPTH:
        return "<…>"
    if isinstance(value, dict):
        return {str(k): _abbreviate(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_abbreviate(v, depth + 1) for v in value]
    return value


def _abbreviate_text(text: str) -> str:
    if len(text) < BASE64_MIN:
        return text
    m = _DATA_URL.match(text)
    if m and len(m.group(2)) >= BASE64_MIN:
        return m.group(1) + _base64_note(m.group(2))
    if _BASE64.fullmatch(text):
        return _base64_note(text)
    if len(text) > TEXT_MAX:
        return text[:TEXT_KEEP] + f"… <{len(text) - TEXT_KEEP}\u00a0more\u00a0characters>"
    return text


def _base64_note(encoded: str) -> str:
    # No-break spaces: a wrapped column never splits the note.
    return f"<base64\u00a0{_size(len(encoded) * 3 // 4)}>"


def _size(n: int) -> str:
    """``12 kB`` (decimal units), with a no-break space."""
    if n < 1000:
        return f"{n}\u00a0B"
    if n < 1_000_000:
        return f"{n / 1000:.0f}\u00a0kB" if n >= 10_000 else f"{n / 1000:.1f}\u00a0kB"
    return f"{n / 1_000_000:.1f}\u00a0MB"


def _inflate(data: bytes) -> bytes:
    """A gzip/deflate body stored as received, inflated within a bound (no zip bombs)."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        inflater = zlib.decompressobj(wbits=31)
        return inflater.decompress(data, PARSE_LIMIT + 1)
    except zlib.error:
        return data
