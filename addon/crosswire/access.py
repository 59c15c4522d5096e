"""Client access: which apps may use the proxy, on which routes, within which quota.

When the config lists ``clients``, an app must present one of their tokens as its own API key
(in whichever header its protocol uses); anything else is refused with a 401 in the app's own
protocol *before* any pool key is leased. Tokens compare in constant time. Quotas count in
this process (a shared deployment with several instances divides them; documented).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from crosswire.config import ClientConfig
from crosswire.ir import Error


@dataclass(slots=True)
class _Counter:
    requests: int = 0
    tokens: int = 0


class Access:
    def __init__(self, clients: Sequence[ClientConfig]) -> None:
        self.clients = tuple(clients)
        self._counters: dict[str, _Counter] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.clients)

    def admit(
        self, credential: str | None, route_number: int
    ) -> tuple[ClientConfig | None, Error | None]:
        """(the client, None) when admitted, (None, the error to answer) otherwise."""
        if not self.clients:
            return None, None
        client = self._find(credential)
        if client is None:
            return None, Error(
                kind="authentication",
                status=401,
                message=(
                    "crosswire: this proxy requires a client token; present it as your API key"
                    if not credential
                    else "crosswire: unknown client token"
                ),
            )
        if client.routes is not None and route_number not in client.routes:
            return None, Error(
                kind="permission",
                status=403,
                message=f"crosswire: client '{client.name}' may not use route {route_number}",
            )
        counter = self._counters.setdefault(client.name, _Counter())
        if client.max_requests is not None and counter.requests >= client.max_requests:
            return None, Error(
                kind="quota_exhausted",
                status=429,
                message=f"crosswire: client '{client.name}' used its {client.max_requests} requests",
            )
        if client.max_tokens is not None and counter.tokens >= client.max_tokens:
            return None, Error(
                kind="quota_exhausted",
                status=429,
                message=f"crosswire: client '{client.name}' used its {client.max_tokens} tokens",
            )
        counter.requests += 1
        return client, None

    def account(self, client_name: str, tokens: int) -> None:
        self._counters.setdefault(client_name, _Counter()).tokens += tokens

    def usage(self) -> dict[str, dict[str, int]]:
        return {
            name: {"requests": c.requests, "tokens": c.tokens} for name, c in self._counters.items()
        }

    def _find(self, credential: str | None) -> ClientConfig | None:
        if not credential:
            return None
        found = None
        for client in self.clients:  # no early exit: constant time over the list
            if hmac.compare_digest(client.token.encode(), credential.encode()):
                found = client
        return found
