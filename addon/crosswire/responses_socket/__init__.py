"""Responses over WebSocket (Codex's ``wss://api.openai.com/v1/responses``), on any backend.

The engine calls :func:`accept` for a WebSocket upgrade on a routed Responses path whose backend
is not a plain Responses passthrough. The upgrade is pointed at an in-process loopback server
(:mod:`.server`); each ``response.create`` on the socket becomes a streamed
``POST /v1/responses`` sent through crosswire's own proxy listener (:mod:`.session`), so every
turn is an ordinary flow — conversion, the key pool, failover, accounting, mitmweb — and its
events come back over the socket one by one. The socket holds what HTTP cannot: the
conversation behind ``previous_response_id`` (:mod:`.conversation`). See docs/websocket.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from mitmproxy import ctx, http

from crosswire.engine import headers, redact
from crosswire.engine.record import ORIGINAL_URL
from crosswire.responses_socket.server import SocketServer
from crosswire.responses_socket.session import Ticket, turn_headers

_server: SocketServer | None = None

#: Proxy modes whose listener takes an ordinary proxied HTTPS request (CONNECT).
_PROXY_MODES = ("regular", "upstream")


def server() -> SocketServer:
    global _server
    if _server is None:
        _server = SocketServer()
    return _server


def accept(flow: http.HTTPFlow, route: Any) -> bool:
    """Serve this upgrade on crosswire's loopback socket server; False when this proxy has no
    listener its turns could go through (the caller then refuses, and the app uses HTTPS)."""
    proxy = proxy_url(_listen_addrs())
    ca_file = os.path.join(os.path.expanduser(ctx.options.confdir), "mitmproxy-ca-cert.pem")
    if proxy is None or not os.path.exists(ca_file):
        return False
    backend = route.backends[0]
    req = flow.request
    target = headers.app_target(req)
    url = headers.url_of(target)
    ticket = Ticket(
        url=url,
        proxy=proxy,
        ca_file=ca_file,
        headers=tuple(turn_headers(headers.text_pairs(req.headers.fields))),
        timeout=float(backend.config.timeout or 600.0),
        label=route.label,
    )
    flow.metadata[ORIGINAL_URL] = redact.request_line(target)
    # The turns carry the app's credential (from the ticket); the socket's stored flow does not.
    redact.stored_request(flow, None, None)
    req.url = server().submit(ticket)
    flow.comment = (
        f"openai-responses websocket (served by crosswire: each response.create is a "
        f"POST /v1/responses) · {route.label} · backend {backend.name}"
    )
    return True


def _listen_addrs() -> list[tuple[str, Any]]:
    proxyserver = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
    out: list[tuple[str, Any]] = []
    for instance in getattr(proxyserver, "servers", ()):
        if instance.mode.type_name in _PROXY_MODES:
            out += [(instance.mode.type_name, addr) for addr in instance.listen_addrs]
    return out


def proxy_url(addrs: Iterable[tuple[str, Any]]) -> str | None:
    """The URL of the first proxy listener, reached over loopback when it listens on all
    interfaces."""
    for _mode, addr in addrs:
        host, port = str(addr[0]), int(addr[1])
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
    return None


__all__ = ["accept", "proxy_url", "server"]
