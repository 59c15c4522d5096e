"""Secrets out of everything that is kept or shown: the stored request and upstream error bodies.

Once a request has been sent, the copy mitmproxy keeps (mitmweb, saved flows, HAR) must not
hold a pool key or the app's credential; an upstream error body that echoes the key (some
providers quote it) must not reach the app.
"""

from __future__ import annotations

import re

from mitmproxy import http

from crosswire.engine.intake import CLIENT_CREDENTIAL_HEADERS

_QUERY_KEY = re.compile(r"([?&]key=)[^&#]*")


def stored_request(flow: http.HTTPFlow, auth_header: str | None, key_name: str | None) -> None:
    headers = flow.request.headers
    if auth_header and auth_header in headers:
        headers[auth_header] = f"<redacted: {key_name or 'key'}>"
    for name in CLIENT_CREDENTIAL_HEADERS:
        if name in headers and not headers[name].startswith("<redacted"):
            headers[name] = "<redacted>"
    if "key" in flow.request.query:
        flow.request.query["key"] = "<redacted>"


def url(pretty_url: str) -> str:
    """A URL with Gemini's ``?key=`` (the app's credential, maybe a client token) hidden."""
    return _QUERY_KEY.sub(r"\1<redacted>", pretty_url) if "key=" in pretty_url else pretty_url


def scrub(body: bytes, secret: str | None) -> bytes:
    """``body`` with ``secret`` replaced: never echo a pool key to the app."""
    if secret and body and secret.encode() in body:
        return body.replace(secret.encode(), b"<redacted>")
    return body
