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


_CREDENTIALS = frozenset(name.encode() for name in CLIENT_CREDENTIAL_HEADERS)


def stored_request(flow: http.HTTPFlow, auth_header: str | None, key_name: str | None) -> None:
    """Replace every credential in the stored request (one pass over its header fields)."""
    req = flow.request
    fields = req.headers.fields
    auth = auth_header.encode().lower() if auth_header else None
    marker = f"<redacted: {key_name or 'key'}>".encode()
    changed = False
    out = []
    for name, value in fields:
        lname = name.lower()
        if lname == auth and not value.startswith(b"<redacted"):
            value, changed = marker, True
        elif lname in _CREDENTIALS and not value.startswith(b"<redacted"):
            value, changed = b"<redacted>", True
        out.append((name, value))
    if changed:
        req.headers.fields = tuple(out)
    if b"key=" in req.data.path and "key" in req.query:
        req.query["key"] = "<redacted>"


def url(pretty_url: str) -> str:
    """A URL with Gemini's ``?key=`` (the app's credential, maybe a client token) hidden."""
    return _QUERY_KEY.sub(r"\1<redacted>", pretty_url) if "key=" in pretty_url else pretty_url


def scrub(body: bytes, secret: str | None) -> bytes:
    """``body`` with ``secret`` replaced: never echo a pool key to the app."""
    if secret and body and secret.encode() in body:
        return body.replace(secret.encode(), b"<redacted>")
    return body
