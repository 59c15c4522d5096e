"""The "crosswire" content view for mitmweb and mitmproxy: original beside converted.

For a converted flow the request tab shows the app's original request beside the request sent
upstream, and the response tab the upstream's answer beside what the app received — streams as
their event lists, in order — followed by what was renamed, dropped or invented, and why.
Same-protocol flows show what changed (URL, model, key name). The view reads only the flow's
secret-free record and stored bodies (``flow.metadata``); it never sees a key.
"""

from __future__ import annotations

import contextlib
import json
import re
import textwrap
from typing import Any

from mitmproxy import contentviews, http
from mitmproxy.contentviews import Metadata

from crosswire.exchange_state import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY

COLUMN = 56


class CrosswireContentview(contentviews.Contentview):
    name = "crosswire"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        flow = metadata.flow
        if not isinstance(flow, http.HTTPFlow):
            raise ValueError("not an HTTP flow")
        record = flow.metadata.get(META)
        if not isinstance(record, dict):
            raise ValueError("not a crosswire flow")
        is_request = metadata.http_message is flow.request
        lines = [_header(record)]
        if record.get("mode") == "convert":
            if is_request:
                left = flow.metadata.get(ORIGINAL_REQUEST, b"")
                lines.append(
                    _columns(
                        f"APP → crosswire ({record['client_protocol']})",
                        f"{flow.metadata.get(ORIGINAL_URL, '')}\n\n{_pretty(left)}",
                        f"crosswire → UPSTREAM ({record['backend_protocol']})",
                        f"{flow.request.method} {flow.request.url}\n\n{_pretty(data)}",
                    )
                )
            else:
                upstream = flow.metadata.get(UPSTREAM_BODY, b"")
                lines.append(
                    _columns(
                        f"UPSTREAM answered ({record['backend_protocol']})",
                        _pretty(upstream),
                        f"APP received ({record['client_protocol']})",
                        _pretty(data),
                    )
                )
        else:
            lines.append(_changes(record, flow))
            lines.append(_pretty(data))
        notes = record.get("notes") or []
        if notes:
            lines.append("\nWhat the conversion changed:")
            for note in notes:
                lines.append(f"  {note['action']:<9} {note['field']}: {note['reason']}")
        elif record.get("mode") == "convert":
            lines.append("\nNothing was dropped, renamed or invented.")
        return "\n".join(lines)

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        flow = metadata.flow
        if isinstance(flow, http.HTTPFlow) and isinstance(flow.metadata.get(META), dict):
            return 2.0  # above JSON and the built-in views for crosswire's flows
        return -1


def _header(record: dict[str, Any]) -> str:
    parts = [
        f"{record.get('client_protocol')} → {record.get('backend_protocol')} ({record.get('mode')})"
    ]
    for label, key in (("route", "route"), ("backend", "backend"), ("key", "key")):
        if record.get(key):
            parts.append(f"{label}: {record[key]}" if label != "route" else str(record[key]))
    if record.get("model_in") or record.get("model_out"):
        parts.append(f"model: {record.get('model_in')} → {record.get('model_out')}")
    if len(record.get("attempts") or []) > 1:
        parts.append("attempts: " + ", ".join(record["attempts"]))
    return " · ".join(parts) + "\n"


def _changes(record: dict[str, Any], flow: http.HTTPFlow) -> str:
    out = ["Same protocol: the body is forwarded unchanged except for these:"]
    original = flow.metadata.get(ORIGINAL_URL)
    if original:
        out.append(f"  url    {original}\n      →  {flow.request.url}")
    if record.get("model_in") != record.get("model_out"):
        out.append(f"  model  {record.get('model_in')} → {record.get('model_out')}")
    out.append(f"  key    {record.get('key') or '(none)'}")
    return "\n".join(out) + "\n"


def _pretty(data: bytes) -> str:
    if not data:
        return "(empty)"
    text = data.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    events = _events(text)
    if events:
        return "\n".join(events)
    return text


def _events(text: str) -> list[str]:
    """A stream as a numbered event list: SSE events or NDJSON lines."""
    blocks = [b for b in re.split(r"\r?\n\r?\n|\r\r", text) if b.strip()]
    out = []
    if any(line.startswith(("data:", "event:")) for b in blocks for line in b.splitlines()):
        for i, block in enumerate(blocks, 1):
            event = None
            data = []
            for line in block.splitlines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            payload = "\n".join(data)
            with contextlib.suppress(ValueError):
                payload = json.dumps(
                    json.loads(payload), ensure_ascii=False, separators=(", ", ": ")
                )
            out.append(f"#{i:<3} {event + ' ' if event else ''}{payload}")
        return out
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
        return [f"#{i:<3} {line}" for i, line in enumerate(lines, 1)]
    return []


def _columns(left_title: str, left: str, right_title: str, right: str) -> str:
    def wrap(text: str) -> list[str]:
        rows: list[str] = []
        for line in text.splitlines() or [""]:
            rows.extend(
                textwrap.wrap(line, COLUMN, replace_whitespace=False, drop_whitespace=False) or [""]
            )
        return rows

    a, b = wrap(left), wrap(right)
    rule = "─" * COLUMN
    rows = [f"{left_title:<{COLUMN}} │ {right_title}", f"{rule}─┼─{rule}"]
    for i in range(max(len(a), len(b))):
        rows.append(f"{(a[i] if i < len(a) else ''):<{COLUMN}} │ {b[i] if i < len(b) else ''}")
    return "\n".join(rows)


def register() -> None:
    contentviews.add(CrosswireContentview)
