"""The first decision about a request, as a pure function: not ours, refused, or routed.

Everything here works on plain values (``Incoming``: the request line, headers and body), never
on mitmproxy objects, so every rule — which hosts and paths are crosswire's, when a body is too
big, which route and model apply, whether the app wants a stream — is unit-tested directly and
shared by the addons that need it (client access runs it before the engine; the engine reuses
the result).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crosswire import ir
from crosswire.engine.headers import Fields, text_map
from crosswire.jsonpatch import get_top_levels
from crosswire.protocols.base import ClientCall, ProtocolName
from crosswire.routing import Detected, Route, Router, detect, host_protocol, to_call
from crosswire.values import value

#: Headers apps use to name their conversation; a session keeps one key (prompt-cache reuse).
SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id", "session_id", "x-conversation-id")
#: Every place an app may put its own credential; all are removed before a request leaves.
CLIENT_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


@value
class Incoming:
    """A request as intake sees it. ``body`` is None when it could not be decoded (a bad
    content-encoding); ``headers`` has lower-case names, for reading; ``fields`` are the raw
    fields as the app sent them, for forwarding (never decoded and encoded again)."""

    method: str
    host: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Fields = ()
    body: bytes | None = b""

    @property
    def is_websocket(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"


@dataclass(frozen=True, slots=True)
class NotOurs:
    """Not a routed request: it goes to its own host untouched."""


NOT_OURS = NotOurs()


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """Answered by crosswire with an error in the app's protocol; nothing is sent upstream."""

    protocol: ProtocolName
    call: ClientCall | None
    error: ir.Error
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Generic:
    """An endpoint crosswire does not model (files, embeddings…) on a route that passes the
    app's protocol through: forwarded as it is, with a pooled key when the backend has keys."""

    route: Route
    path: str
    query: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    """A WebSocket upgrade on a routed host (Codex's Responses socket)."""

    route: Route
    path: str
    query: Mapping[str, str]


@value
class Routed:
    """A request of a known protocol on a route: the engine plans and sends it."""

    call: ClientCall
    detected: Detected
    route: Route
    #: The host the app called (its request is retargeted later).
    host: str
    body: bytes
    model: str | None
    #: The app's own key (forwarded only to ``client_auth`` backends); None once the
    #: credential turned out to be a crosswire client token.
    credential: str | None
    stream: bool
    fields: Fields
    client: str | None = None

    @property
    def session(self) -> str:
        """The conversation, for sticky keys: computed when a pool with several sticky keys
        asks (hashing the body's head is not free, and most requests never need it)."""
        return session_of(text_map(self.fields), self.body)


Intake = NotOurs | Refused | Generic | Upgrade | Routed


def classify(req: Incoming, router: Router, max_body_bytes: int) -> Intake:
    if not router.routes_host(req.host):
        return NOT_OURS
    if req.is_websocket:
        route = router.match(req.host, req.path, None, "openai-responses")
        return NOT_OURS if route is None else Upgrade(route=route, path=req.path, query=req.query)
    detected = detect(req.method, req.path, req.query, req.headers)
    if detected is None:
        return _unknown_endpoint(req, router)
    call = to_call(detected, req.method, req.path, req.query, req.headers, req.host)
    if req.body is None:
        return _refused(call, ir.Error.of("invalid_request", "request body cannot be decoded"))
    body = req.body
    if len(body) > max_body_bytes:
        return _refused(
            call,
            ir.Error.of(
                "request_too_large",
                f"request body is {len(body)} bytes; this proxy accepts at most {max_body_bytes}",
            ),
        )
    model = detected.model
    asked_stream: Any = None
    if body and (model is None or detected.stream is None):
        found, asked_stream = get_top_levels(body, ("model", "stream"))  # one scan
        if model is None and isinstance(found, str):
            model = found
    route = router.match(req.host, req.path, model, detected.protocol)
    if route is None:
        return NOT_OURS
    return Routed(
        call=call,
        detected=detected,
        route=route,
        host=req.host,
        body=body,
        model=model,
        credential=client_credential(req.headers, req.query),
        stream=wants_stream(detected, asked_stream),
        fields=req.fields,
    )


def _unknown_endpoint(req: Incoming, router: Router) -> Intake:
    route = router.match(req.host, req.path, None, "")
    if route is None:
        return NOT_OURS
    if route.backends[0].protocol == "auto":
        return Generic(route=route, path=req.path, query=req.query)
    protocol = host_protocol(req.host)
    return Refused(
        protocol=protocol,
        call=None,
        error=ir.Error.of(
            "not_found",
            f"crosswire: {req.method} {req.path} is not an endpoint it routes on {req.host}",
        ),
        label=f"{protocol} (refused) · unknown endpoint {req.method} {req.path}",
    )


def _refused(call: ClientCall, error: ir.Error) -> Refused:
    return Refused(
        protocol=call.protocol,
        call=call,
        error=error,
        label=f"{call.protocol} (refused) · {error.message}",
    )


def client_credential(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The app's own key, wherever its protocol put it (``Authorization: Bearer`` — also used
    by Anthropic apps on the 2026 API — ``x-api-key``, ``x-goog-api-key``, Azure's ``api-key``,
    Gemini's ``?key=``)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else auth.strip()
    for name in CLIENT_CREDENTIAL_HEADERS[1:]:
        if headers.get(name):
            return headers[name].strip()
    return query.get("key") or None


def session_of(headers: Mapping[str, str], body: bytes) -> str:
    for name in SESSION_HEADERS:
        if headers.get(name):
            return hashlib.sha1(headers[name].encode()).hexdigest()[:16]
    # The start of a conversation's body is stable across its turns (messages are appended).
    return hashlib.sha1(body[:2048]).hexdigest()[:16]


def wants_stream(detected: Detected, asked: Any) -> bool:
    """Whether the app asked for a stream: its endpoint says, else the body's ``stream``
    (``asked``, its top-level value)."""
    if detected.stream is not None:
        return detected.stream
    if detected.protocol == "ollama":
        return asked is not False  # Ollama streams unless told not to
    return asked is True
