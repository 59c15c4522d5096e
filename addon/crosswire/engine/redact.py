"""Secrets out of everything that is kept or shown: the stored request and upstream error bodies.

Once a request has been sent, the copy mitmproxy keeps (mitmweb, saved flows, HAR) must not
hold a pool key or the app's credential; an upstream error body that echoes the key (some
providers quote it) must not reach the app.
"""

from __future__ import annotations

import re

from mitmproxy import http

from crosswire.engine import headers
from crosswire.engine.intake import CLIENT_CREDENTIAL_HEADERS

_QUERY_KEY = re.compile(r"([?&]key=)[^&#]*")


_CREDENTIALS = frozenset(name.encode() for name in CLIENT_CREDENTIAL_HEADERS)


#: Fields crosswire added that hold a secret, each with what the stored copy shows instead.
Secrets = tuple[tuple[tuple[bytes, bytes], bytes], ...]


def marker(name: bytes, auth: bytes | None, key_name: str | None) -> bytes | None:
    """What a stored field's value becomes; None when it holds no credential. ``auth``: the
    lower-case name of the field crosswire put the key in."""
    lname = name.lower()
    if lname == auth:
        return f"<redacted: {key_name or 'key'}>".encode()
    if lname in _CREDENTIALS:
        return b"<redacted>"
    return None


def stored_request(
    flow: http.HTTPFlow,
    auth_header: str | None,
    key_name: str | None,
    sent: headers.Fields | None = None,
    secrets: Secrets = (),
) -> None:
    """Replace every credential in the stored request. When its fields are still ``sent`` (as
    the engine set them, the app's own credentials already dropped), only ``secrets`` — the
    fields crosswire added — need replacing, found by identity; otherwise one pass over all."""
    req = flow.request
    fields = req.headers.fields
    if fields is sent:
        if secrets:
            out = list(fields)
            for found, shown in secrets:
                i = fields.index(found)
                out[i] = (found[0], shown)
            req.headers.fields = tuple(out)
    else:
        auth = auth_header.encode().lower() if auth_header else None
        changed = False
        kept = []
        for name, value in fields:
            hidden = marker(name, auth, key_name)
            if hidden is not None and not value.startswith(b"<redacted"):
                kept.append((name, hidden))
                changed = True
            else:
                kept.append((name, value))
        if changed:
            req.headers.fields = tuple(kept)
    if b"key=" in req.data.path and "key" in req.query:
        req.query["key"] = "<redacted>"


def request_line(target: headers.AppTarget) -> str:
    """The app's request as the view and telemetry show it: method and URL, key hidden."""
    return f"{target[0]} {url(headers.url_of(target))}"


def url(pretty_url: str) -> str:
    """A URL with Gemini's ``?key=`` (the app's credential, maybe a client token) hidden."""
    return _QUERY_KEY.sub(r"\1<redacted>", pretty_url) if "key=" in pretty_url else pretty_url


def scrub(body: bytes, secret: str | None) -> bytes:
    """``body`` with ``secret`` replaced: never echo a pool key to the app."""
    if secret and body and secret.encode() in body:
        return body.replace(secret.encode(), b"<redacted>")
    return body
