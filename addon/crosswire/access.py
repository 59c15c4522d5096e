"""Client access: which apps may use the proxy, on which routes, within which quota.

Shaped like mitmproxy's own ``proxyauth`` addon: ``ClientAccess`` runs before the engine and
refuses, in the app's own protocol, a routed request without a valid crosswire client token —
before any pool key is leased. A token comes either as the app's API key (whatever header its
protocol uses) or as proxy credentials (``HTTPS_PROXY=http://NAME:TOKEN@host:port``). A client
token is a crosswire credential and never reaches a provider: given as the API key it is
removed from the request; a route that would forward the app's own provider key then has none
to forward, so such a request is refused with a message that says to use proxy credentials.

``ClientQuota`` runs after the engine and counts each exchange's tokens. Request and token
quotas count per client in the pool's state: this process's memory, or Redis when
``state: redis://…`` so that several instances share them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from mitmproxy import http

from crosswire.config import ClientConfig
from crosswire.engine import answer
from crosswire.engine.dispatch import incoming
from crosswire.engine.intake import (
    CLIENT_CREDENTIAL_HEADERS,
    Generic,
    Routed,
    Upgrade,
    client_credential,
)
from crosswire.engine.record import META
from crosswire.engine.runtime import Hub, Runtime
from crosswire.ir import Error
from crosswire.protocols.base import ClientCall, ProtocolName
from crosswire.routing import host_protocol

log = logging.getLogger("crosswire")


class ClientAccess:
    """Admission by client token (a mitmproxy addon that runs before the engine)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._proxy_tokens: dict[str, str] = {}

    @property
    def clients(self) -> tuple[ClientConfig, ...]:
        rt = self.hub.runtime
        return rt.cfg.file.clients if rt is not None else ()

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """A token given as proxy credentials arrives once, on the CONNECT: keep it for the
        requests inside the tunnel, and never pass it on."""
        token = _proxy_token(flow.request.headers.get("proxy-authorization", ""))
        if token is not None and self.clients:
            self._proxy_tokens[flow.client_conn.id] = token
            flow.request.headers.pop("proxy-authorization", None)

    def client_disconnected(self, client: Any) -> None:
        self._proxy_tokens.pop(client.id, None)

    def quiet_request(self) -> bool:
        """Without clients configured, ``request`` does nothing (``quiet_hooks``)."""
        return not self.clients

    def request_in_layer(self) -> Callable[[http.HTTPFlow], None] | None:
        """``request``'s work without awaiting, for a request routed inside mitmproxy's HTTP
        layer (``quiet_hooks``): possible while quotas count in this process's memory."""
        rt = self.hub.runtime
        return None if rt is None or rt.quotas.shared else self._admit_now

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Not async itself: without clients configured (the common case) there is nothing to
        await; mitmproxy awaits what a hook returns only when it is awaitable."""
        rt = self.hub.runtime
        if rt is None or not self.clients or flow.response or flow.error or not flow.live:
            return None
        if rt.has_intake(flow.id):  # admitted in the layer already (``_admit_now``)
            return None
        return self._admit_request(flow, rt)

    async def _admit_request(self, flow: http.HTTPFlow, rt: Runtime) -> None:
        asked = self._asked(flow, rt)
        if asked is not None:
            denied = _who(asked) or await _quota(rt, asked.client)
            self._decide(flow, rt, asked, denied)

    def _admit_now(self, flow: http.HTTPFlow) -> None:
        rt = self.hub.runtime
        asked = self._asked(flow, rt) if rt is not None and self.clients else None
        if rt is not None and asked is not None:
            denied = _who(asked) or _quota_now(rt, asked.client)
            self._decide(flow, rt, asked, denied)

    def _asked(self, flow: http.HTTPFlow, rt: Runtime) -> _Asked | None:
        """Who asks, for what (the request classified and kept for the engine); None when the
        request is not one crosswire routes."""
        request = incoming(flow)
        intake = rt.classify(request)
        rt.keep_intake(flow.id, intake)  # the engine goes on from it
        if not isinstance(intake, Routed | Generic | Upgrade):
            return None
        by_proxy = self._proxy_tokens.get(flow.client_conn.id) or _proxy_token(
            flow.request.headers.get("proxy-authorization", "")
        )
        flow.request.headers.pop("proxy-authorization", None)
        if isinstance(intake, Routed):
            as_key, protocol, call = intake.credential, intake.call.protocol, intake.call
        else:
            as_key = client_credential(request.headers, request.query)
            protocol, call = host_protocol(request.host), None
        given = by_proxy or as_key
        return _Asked(intake, self._find(given), given, by_proxy, protocol, call)

    def _decide(
        self, flow: http.HTTPFlow, rt: Runtime, asked: _Asked, denied: Error | None
    ) -> None:
        client, intake = asked.client, asked.intake
        route = intake.route
        if denied is None and client is not None and not asked.by_proxy:
            _strip_credentials(flow)
            backend = route.backends[0]
            if backend.config.client_auth and not backend.keys:
                denied = Error(
                    kind="authentication",
                    status=401,
                    message=(
                        f"crosswire: {route.label} forwards the app's own provider key, but the "
                        "app gave its crosswire client token as its key; give the client token "
                        "as proxy credentials instead (HTTPS_PROXY=http://NAME:TOKEN@HOST:PORT)"
                    ),
                )
        if denied is not None:
            rt.take_intake(flow.id)
            protocol = asked.protocol
            answer.refuse(
                flow,
                protocol,
                asked.call,
                denied,
                f"{protocol} (refused) · {route.label} · {denied.message}",
            )
            return
        assert client is not None
        if isinstance(intake, Routed):
            rt.keep_intake(
                flow.id,
                replace(
                    intake,
                    client=client.name,
                    credential=None if not asked.by_proxy else intake.credential,
                ),
            )

    def _find(self, credential: str | None) -> ClientConfig | None:
        if not credential:
            return None
        found = None
        for client in self.clients:  # no early exit: constant time over the list
            if hmac.compare_digest(client.token.encode(), credential.encode()):
                found = client
        return found


class ClientQuota:
    """Counts each finished exchange's tokens against its client (runs after the engine)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        return self._count(flow)

    def error(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        return self._count(flow)

    def _count(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Only an exchange of a known client is counted (an awaitable for mitmproxy to
        await); the rest cost no coroutine."""
        rt = self.hub.runtime
        record = flow.metadata.get(META)
        if rt is None or not isinstance(record, dict) or not record.get("client"):
            return None
        usage = record.get("usage") or {}
        tokens = (usage.get("input") or 0) + (usage.get("output") or 0)
        return rt.quotas.add_tokens(str(record["client"]), tokens)


@dataclass(frozen=True, slots=True)
class _Asked:
    """An admission in progress: the request, its client (None: no valid token), how asked."""

    intake: Routed | Generic | Upgrade
    client: ClientConfig | None
    given: str | None
    #: The token when it came as proxy credentials (it then stays out of the request).
    by_proxy: str | None
    protocol: ProtocolName
    call: ClientCall | None


def _who(asked: _Asked) -> Error | None:
    """A missing or unknown token, or a route the client may not use."""
    client = asked.client
    if client is None:
        return Error(
            kind="authentication",
            status=401,
            message=(
                "crosswire: this proxy requires a client token; present it as your API key"
                if not asked.given
                else "crosswire: unknown client token"
            ),
        )
    route_number = asked.intake.route.index + 1
    if client.routes is not None and route_number not in client.routes:
        return Error(
            kind="permission",
            status=403,
            message=f"crosswire: client '{client.name}' may not use route {route_number}",
        )
    return None


async def _quota(rt: Runtime, client: ClientConfig | None) -> Error | None:
    """A used-up quota; else one request counted."""
    assert client is not None  # `_who` refused the request otherwise
    quotas = rt.quotas
    if client.max_tokens is not None and await quotas.tokens(client.name) >= client.max_tokens:
        return _tokens_used(client)
    if not await quotas.take_request(client.name, client.max_requests):
        return _requests_used(client)
    return None


def _quota_now(rt: Runtime, client: ClientConfig | None) -> Error | None:
    """``_quota`` with the counters in this process's memory."""
    assert client is not None  # `_who` refused the request otherwise
    quotas = rt.quotas
    if client.max_tokens is not None and quotas.tokens_now(client.name) >= client.max_tokens:
        return _tokens_used(client)
    if not quotas.take_request_now(client.name, client.max_requests):
        return _requests_used(client)
    return None


def _tokens_used(client: ClientConfig) -> Error:
    message = f"crosswire: client '{client.name}' used its {client.max_tokens} tokens"
    return Error(kind="quota_exhausted", status=429, message=message)


def _requests_used(client: ClientConfig) -> Error:
    message = f"crosswire: client '{client.name}' used its {client.max_requests} requests"
    return Error(kind="quota_exhausted", status=429, message=message)


def _proxy_token(value: str) -> str | None:
    """The password of ``Proxy-Authorization: Basic base64(name:token)`` (or a Bearer token)."""
    scheme, _, data = value.partition(" ")
    if scheme.lower() == "bearer" and data.strip():
        return data.strip()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(data.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


def _strip_credentials(flow: http.HTTPFlow) -> None:
    for name in CLIENT_CREDENTIAL_HEADERS:
        flow.request.headers.pop(name, None)
    if "key" in flow.request.query:
        del flow.request.query["key"]
