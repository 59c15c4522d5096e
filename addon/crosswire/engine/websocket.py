"""WebSocket upgrades on routed hosts: Codex CLI's Responses socket.

Codex first tries the Responses API over a WebSocket. A route whose backend speaks Responses
without a pool (or passes the app's protocol through) gets the upgrade retargeted to that
backend; any other backend gets the socket served by crosswire (``responses_socket``: each
``response.create`` becomes an ordinary routed request). When this proxy has no listener those
turns could go through, the upgrade is refused in the Responses error shape so that the app
falls back to HTTPS at once.
"""

from __future__ import annotations

from mitmproxy import http

from crosswire import ir, responses_socket, upstream
from crosswire.engine import answer
from crosswire.engine.intake import Upgrade


def upgrade(flow: http.HTTPFlow, intake: Upgrade) -> None:
    route = intake.route
    backend = route.backends[0]
    if backend.protocol in ("auto", "openai-responses") and not backend.keys:
        base = backend.config.base_url
        flow.request.url = upstream.with_query(
            upstream.join(base, upstream.relative_to_base(intake.path, base)), intake.query
        )
        flow.comment = (
            f"openai-responses websocket (passthrough) · {route.label} · backend {backend.name}"
        )
        return
    if responses_socket.accept(flow, route):
        return
    err = ir.Error.of(
        "not_found", "crosswire: Responses over WebSocket is not converted here; use HTTPS"
    )
    answer.refuse(
        flow,
        "openai-responses",
        None,
        err,
        f"websocket refused (the app falls back to HTTPS) · {route.label}",
    )
    flow.marked = ""
