"""The "crosswire" content view for mitmweb and mitmproxy: original beside converted.

People open mitmweb to see what their app really sent and why a provider rejected it. For a
converted flow the Request tab shows the app's original request beside the request crosswire
sent upstream, and the Response tab the upstream's answer beside what the app received — streams
as numbered event lists, in order — followed by every field that was dropped, renamed, invented,
clamped or moved, with the reason. Same-protocol flows show what crosswire changed (URL, model,
key name) above the body.

The view reads only what the addon stored with the flow (``flow.metadata``: the secret-free
record and bounded body copies, see ``engine.record``) and the flow's own, already redacted,
messages; it never sees a key. Rendering is bounded (long base64 and text are abbreviated, each
side stops after ``MAX_LINES``) and never raises: odd or missing data becomes a short note.
"""

from __future__ import annotations

import json
import re
import textwrap
import zlib
from collections.abc import Iterator
from typing import Any

from mitmproxy import contentviews, http
from mitmproxy.contentviews import Metadata

from crosswire.engine.record import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY

#: Characters per line of the whole rendering. mitmweb's detail pane, at half of a 1600 px
#: window, shows about 95 monospace characters before it scrolls sideways.
WIDTH = 96
GUTTER = " │ "
#: Lines kept per side (after wrapping) and events listed per stream; the Raw view always has
#: the whole body (mitmweb itself shows 512 lines, then "Show more").
MAX_LINES = 4000
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
#: Query parameters that carry credentials (Gemini's ``?key=``); redacted in every URL shown.
_URL_SECRET = re.compile(r"([?&](?:key|api[-_]?key|access_token|token)=)[^&#\s]*", re.IGNORECASE)
_SSE_BLOCK = re.compile(r"\r\n\r\n|\n\n|\r\r")
_SSE_FIELD = re.compile(r"^(event|data|id|retry):", re.MULTILINE)

#: What the ``flow.marked`` values crosswire sets mean (also documented in docs/debugging.md).
MARKERS = {
    ":x:": "❌ failed: the upstream or the conversion failed",
    ":no_entry:": "⛔ refused by crosswire before any upstream was called",
    ":arrows_counterclockwise:": "🔄 served after a failover",
    ":warning:": "⚠️ the stream ended with an error event",
}
#: The order notes are listed in: what was lost first.
_ACTION_ORDER = {"dropped": 0, "clamped": 1, "renamed": 2, "moved": 3, "invented": 4}


class CrosswireContentview(contentviews.Contentview):
    """Chosen automatically for every flow crosswire routed (it carries the record)."""

    name = "crosswire"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        flow = metadata.flow
        if not isinstance(flow, http.HTTPFlow) or not isinstance(flow.metadata.get(META), dict):
            return "Not a flow crosswire routed: there is no crosswire record to show."
        try:
            return render(flow, metadata.http_message is flow.request, data)
        except Exception as exc:  # the view must never break the flow display
            return f"crosswire view: could not render this flow ({type(exc).__name__}); see Raw."

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        flow = metadata.flow
        if isinstance(flow, http.HTTPFlow) and isinstance(flow.metadata.get(META), dict):
            return 2.0  # above JSON and the built-in views for crosswire's flows
        return -1


def register() -> None:
    contentviews.add(CrosswireContentview)


# ---- the page --------------------------------------------------------------------------


def render(flow: http.HTTPFlow, is_request: bool, data: bytes) -> str:
    """The whole text for one tab of one routed flow."""
    record: dict[str, Any] = flow.metadata.get(META) or {}
    converted = record.get("mode") == "convert"
    lines = _header(record, flow)
    lines.append("")
    if converted and is_request:
        lines += _side_by_side(
            f"APP → crosswire ({_text(record.get('client_protocol'))})",
            [
                *_url_lines(flow.metadata.get(ORIGINAL_URL)),
                "",
                *_body(_bytes(flow, ORIGINAL_REQUEST)),
            ],
            f"crosswire → UPSTREAM ({_text(record.get('backend_protocol'))})",
            [*_url_lines(f"{flow.request.method} {flow.request.url}"), "", *_body(data)],
        )
    elif converted:
        stream = bool(record.get("stream"))
        upstream = _bytes(flow, UPSTREAM_BODY)
        left = _body(upstream, stream=stream) if upstream else [_NO_UPSTREAM]
        lines += _side_by_side(
            f"UPSTREAM answered ({_text(record.get('backend_protocol'))})",
            left,
            f"APP received ({_text(record.get('client_protocol'))})",
            _status_lines(flow) + _body(data, stream=stream),
        )
    else:
        lines += _changes(record, flow, mode=_text(record.get("mode")))
        lines.append("")
        title = (
            "Request sent upstream" if is_request else "The upstream's answer, as the app got it"
        )
        lines += _single(title, ([] if is_request else _status_lines(flow)) + _body(data))
    lines.append("")
    lines += _notes(record, converted)
    # mitmweb draws each line as a <div> in a <pre>: an empty one collapses, a space keeps it.
    return "\n".join(line or " " for line in lines)


_NO_UPSTREAM = "(no upstream answer stored: crosswire answered itself, or the attempt failed)"


def _header(record: dict[str, Any], flow: http.HTTPFlow) -> list[str]:
    client, backend = _text(record.get("client_protocol")), _text(record.get("backend_protocol"))
    mode = _text(record.get("mode")) or "?"
    first = (
        f"crosswire · {client} → {backend} · converted"
        if mode == "convert"
        else f"crosswire · {client} · {mode}"
    )
    if record.get("stream"):
        first += " · streamed"
    where = [
        _text(record.get("route")),
        _labelled("backend", record.get("backend")),
        _labelled("key", record.get("key")),
        _labelled("client", record.get("client")),
    ]
    out = [first, " · ".join(p for p in where if p)]
    model_in, model_out = _text(record.get("model_in")), _text(record.get("model_out"))
    if model_in and model_out and model_in != model_out:
        out.append(f"model {model_in} → {model_out}")
    elif model_in or model_out:
        out.append(f"model {model_in or model_out}")
    attempts = [_text(a) for a in _list(record.get("attempts"))]
    failures = [_text(f) for f in _list(record.get("failures"))]
    if len(attempts) > 1 or failures:
        out.append("attempts: " + " → ".join(attempts))
    if failures:
        out.append("failed attempts: " + ", ".join(failures))
    marker = MARKERS.get(_text(flow.marked))
    if marker:
        out.append(marker)
    if flow.error is not None:
        out.append(f"failed: {_redact_url(_text(flow.error.msg))}")
    return [row for line in out if line for row in _wrap(line, WIDTH)]


def _changes(record: dict[str, Any], flow: http.HTTPFlow, mode: str) -> list[str]:
    """Same protocol: the body passes through; these are the only differences."""
    if mode == "passthrough":
        out = ["Same protocol: crosswire forwarded the exchange unchanged except for:"]
    else:  # e.g. "refused" after no upstream could be reached: the app got crosswire's error
        out = [f"Same protocol ({mode or '?'}): what crosswire changed before answering:"]
    original = _redact_url(_text(flow.metadata.get(ORIGINAL_URL)))
    sent = _redact_url(f"{flow.request.method} {flow.request.url}")
    if original and original != sent:
        out += _row("url", original) + _row("  →", sent)
    else:
        out += _row("url", f"{sent} (unchanged)")
    model_in, model_out = _text(record.get("model_in")), _text(record.get("model_out"))
    if model_in and model_out and model_in != model_out:
        out += _row("model", f"{model_in} → {model_out}")
    else:
        out += _row("model", f"{model_out or model_in or '(none)'} (unchanged)")
    key = _text(record.get("key"))
    out += _row(
        "key",
        f"the app's key was replaced by pool key {key}"
        if key
        else "the app's own key was forwarded (the backend has no pool keys)",
    )
    return out


def _row(label: str, text: str) -> list[str]:
    prefix = f"  {label:<6} "
    return _Wrapper(WIDTH, subsequent_indent=" " * len(prefix)).wrap(prefix + text)


def _notes(record: dict[str, Any], converted: bool) -> list[str]:
    notes = [n for n in _list(record.get("notes")) if isinstance(n, dict)]
    if not notes:
        return ["Nothing was dropped, renamed, invented or clamped."] if converted else []
    notes.sort(key=lambda n: _ACTION_ORDER.get(_text(n.get("action")), 9))
    fields = [_text(n.get("field")) for n in notes]
    field_width = min(28, max(len(f) for f in fields))
    out = [f"What the conversion changed ({len(notes)}):"]
    for note, name in zip(notes, fields, strict=True):
        prefix = f"  {_text(note.get('action')):<9} {name:<{field_width}}  "
        if len(prefix) > 2 + 9 + 1 + field_width + 2:  # a long field name gets its own line
            out += _wrap(prefix.rstrip(), WIDTH)
            prefix = " " * (2 + 9 + 1 + field_width + 2)
        hang = " " * len(prefix)
        reason = _text(note.get("reason")) or "(no reason given)"
        out += _Wrapper(WIDTH, subsequent_indent=hang).wrap(prefix + reason) or [prefix]
    return out


def _status_lines(flow: http.HTTPFlow) -> list[str]:
    resp = flow.response
    if resp is None:
        return []
    kind = resp.headers.get("content-type", "")
    return [f"HTTP {resp.status_code} {resp.reason}".rstrip() + (f" · {kind}" if kind else ""), ""]


def _url_lines(value: object) -> list[str]:
    return [_redact_url(_text(value)) or "(not stored)"]


def _redact_url(url: str) -> str:
    return _URL_SECRET.sub(r"\1<redacted>", url)


# ---- bodies ----------------------------------------------------------------------------


def _body(data: bytes, *, stream: bool = False) -> list[str]:
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


# ---- layout ----------------------------------------------------------------------------


def _side_by_side(
    left_title: str, left: list[str], right_title: str, right: list[str]
) -> list[str]:
    """Two columns; a column narrower than half the width leaves the rest to the other."""
    half = (WIDTH - len(GUTTER)) // 2
    natural_left = max([len(left_title)] + [len(s) for s in left[:MAX_LINES]])
    natural_right = max([len(right_title)] + [len(s) for s in right[:MAX_LINES]])
    budget = WIDTH - len(GUTTER)
    if natural_left + natural_right <= budget:
        lw, rw = natural_left, natural_right
    elif natural_left <= half:
        lw, rw = natural_left, budget - natural_left
    elif natural_right <= half:
        lw, rw = budget - natural_right, natural_right
    else:
        lw, rw = half, budget - half
    a, b = _wrap_all(left, lw), _wrap_all(right, rw)
    rows = [
        f"{left_title[:lw]:<{lw}}{GUTTER}{right_title[:rw]}",
        f"{'─' * lw}─┼─{'─' * rw}",
    ]
    for i in range(max(len(a), len(b))):
        rows.append(
            f"{a[i] if i < len(a) else '':<{lw}}{GUTTER}{b[i] if i < len(b) else ''}".rstrip()
        )
    return rows


def _single(title: str, body: list[str]) -> list[str]:
    return [title, "─" * min(WIDTH, max(len(title), 40)), *_wrap_all(body, WIDTH)]


def _wrap_all(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        out += _wrap(line, width)
        if len(out) >= MAX_LINES:
            more = len(lines) - i - 1
            out = out[:MAX_LINES]
            if more > 0:
                out.append(f"… {more} more lines (see the Raw view)")
            break
    return out


def _wrap(line: str, width: int) -> list[str]:
    """Wrap one line, continuation lines indented under its start (JSON stays readable)."""
    if len(line) <= width:
        return [line]
    indent = len(line) - len(line.lstrip(" "))
    if line.startswith("#"):  # an event: continue under its payload
        indent = line.find(" ") + 1
    hang = " " * min(indent + 2, width // 2)
    return _Wrapper(width, subsequent_indent=hang).wrap(line) or [line[:width]]


_SPACES = re.compile(r"([ \t\n\r\f\v]+)")
_SPACES_AND_URL_PARTS = re.compile(r"([ \t\n\r\f\v]+|(?<=[/?&])(?=[^ \t\n\r\f\v/?&]))")


class _Wrapper(textwrap.TextWrapper):
    """Breaks at ASCII spaces — and in lines holding a URL after ``/ ? &``, so URLs wrap at
    their parts — never at hyphens or no-break spaces: model names, ids and ``<base64 12 kB>``
    stay whole."""

    def __init__(self, width: int, subsequent_indent: str = "") -> None:
        super().__init__(width, subsequent_indent=subsequent_indent, break_on_hyphens=False)

    def wrap(self, text: str) -> list[str]:
        self.wordsep_simple_re = _SPACES_AND_URL_PARTS if "://" in text else _SPACES
        return super().wrap(text)


# ---- odd data --------------------------------------------------------------------------


def _bytes(flow: http.HTTPFlow, key: str) -> bytes:
    value = flow.metadata.get(key)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    return b""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _labelled(label: str, value: object) -> str:
    text = _text(value)
    return f"{label} {text}" if text else ""


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []
