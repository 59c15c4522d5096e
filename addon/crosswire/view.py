"""The "crosswire" content view for mitmweb and mitmproxy: original beside converted.

People open mitmweb to see what their app really sent and why a provider rejected it. For a
converted flow the Request tab shows the app's original request beside the request crosswire
sent upstream, and the Response tab the upstream's answer beside what the app received — streams
as numbered event lists, in order — followed by every field that was dropped, renamed, invented,
clamped or moved, with the reason. Same-protocol flows show what crosswire changed (URL, model,
key name) above the body.

Layout (``view_layout``) and body rendering (``view_body``) live in their own modules. The
view reads only what the addon stored with the flow (``flow.metadata``: the secret-free
record and bounded body copies, see ``engine.record``) and the flow's own, already redacted,
messages; it never sees a key. Rendering is bounded (long base64 and text are abbreviated, each
side stops after ``MAX_LINES``) and never raises: odd or missing data becomes a short note.
"""

from __future__ import annotations

import re
from typing import Any

from mitmproxy import contentviews, http
from mitmproxy.contentviews import Metadata

from crosswire.engine.record import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY
from crosswire.view_body import MAX_EVENTS, PARSE_LIMIT, TEXT_KEEP, body_lines
from crosswire.view_layout import MAX_LINES, WIDTH, Wrapper, side_by_side, single, wrap

__all__ = [
    "MARKERS",
    "MAX_EVENTS",
    "MAX_LINES",
    "PARSE_LIMIT",
    "TEXT_KEEP",
    "WIDTH",
    "CrosswireContentview",
    "register",
    "render",
]

#: Query parameters that carry credentials (Gemini's ``?key=``); redacted in every URL shown.
_URL_SECRET = re.compile(r"([?&](?:key|api[-_]?key|access_token|token)=)[^&#\s]*", re.IGNORECASE)

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
        lines += side_by_side(
            f"APP → crosswire ({_text(record.get('client_protocol'))})",
            [
                *_url_lines(flow.metadata.get(ORIGINAL_URL)),
                "",
                *body_lines(_bytes(flow, ORIGINAL_REQUEST)),
            ],
            f"crosswire → UPSTREAM ({_text(record.get('backend_protocol'))})",
            [*_url_lines(f"{flow.request.method} {flow.request.url}"), "", *body_lines(data)],
        )
    elif converted:
        stream = bool(record.get("stream"))
        upstream = _bytes(flow, UPSTREAM_BODY)
        left = body_lines(upstream, stream=stream) if upstream else [_NO_UPSTREAM]
        lines += side_by_side(
            f"UPSTREAM answered ({_text(record.get('backend_protocol'))})",
            left,
            f"APP received ({_text(record.get('client_protocol'))})",
            _status_lines(flow) + body_lines(data, stream=stream),
        )
    else:
        lines += _changes(record, flow, mode=_text(record.get("mode")))
        lines.append("")
        title = (
            "Request sent upstream" if is_request else "The upstream's answer, as the app got it"
        )
        lines += single(title, ([] if is_request else _status_lines(flow)) + body_lines(data))
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
    return [row for line in out if line for row in wrap(line, WIDTH)]


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
    return Wrapper(WIDTH, subsequent_indent=" " * len(prefix)).wrap(prefix + text)


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
            out += wrap(prefix.rstrip(), WIDTH)
            prefix = " " * (2 + 9 + 1 + field_width + 2)
        hang = " " * len(prefix)
        reason = _text(note.get("reason")) or "(no reason given)"
        out += Wrapper(WIDTH, subsequent_indent=hang).wrap(prefix + reason) or [prefix]
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
