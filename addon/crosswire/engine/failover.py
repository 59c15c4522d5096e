"""Failover before the first byte, in process: try the next candidates until one answers.

mitmproxy sends a routed request once, to its first candidate. When that answer is a retryable
failure (429, 401/403, 5xx, 529, no connection) and the route has another key or backend,
crosswire tries the next ones itself with one shared ``httpx.AsyncClient`` (its connection pool
serves every flow, which mitmproxy's per-client-connection pools cannot): a whole answer replaces
the failed one before the app sees anything; a stream goes through the loopback relay, which
uses this same loop. Each failed attempt's lease goes back to the pool with what was learnt
(cooldowns, disabled keys), and the attempt is written into the flow's record. Why this lives
beside mitmproxy rather than in it: docs/mitmproxy.md §7.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from crosswire.engine.keeper import Keeper
from crosswire.engine.planner import Candidate, Planner
from crosswire.engine.record import Failure, Record

#: Statuses worth another key: a refused key, rate limits, overload, server errors.
RETRYABLE = frozenset({401, 403, 408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
#: Never copied from an upstream answer onto the app's: framing and connection headers.
HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


@dataclass(slots=True)
class LastFailure:
    """The last failed attempt, for when every attempt failed: its answer goes to the app."""

    candidate: Candidate
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str = ""


class Failover:
    """One request's remaining attempts. ``record`` and the keeper hear every failure."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        planner: Planner,
        record: Record,
        keeper: Keeper,
        max_attempts: int,
    ) -> None:
        self.client = client
        self.planner = planner
        self.record = record
        self.keeper = keeper
        self.max_attempts = max_attempts
        self.tried = 0
        self.last: LastFailure | None = None

    async def failed(
        self,
        candidate: Candidate,
        status: int | None,
        headers: Mapping[str, str],
        body: bytes,
        reason: str = "",
        *,
        local: bool = False,
    ) -> None:
        """An attempt did not serve: remember it, and give its key back with the lesson —
        none when the failure may be ours (``local``: a connect timeout on a busy loop)."""
        self.last = LastFailure(candidate, status, headers, body, reason)
        self.record.failures.append(Failure(candidate.label, status, reason))
        await self.keeper.release(
            candidate.lease, 0 if local else status, self.record.route, headers=headers, body=body
        )
        candidate.lease = None

    async def answer(
        self, *, stream: bool, first: Candidate | None = None
    ) -> tuple[Candidate, httpx.Response] | None:
        """The first non-retryable answer (its body unread when ``stream``), or None when every
        attempt failed (``last`` says how)."""
        pending = first
        while self.tried < self.max_attempts:
            candidate = pending or await self.planner.next()
            pending = None
            if candidate is None:
                return None
            if candidate is not first:
                self.record.attempts.append(candidate.label)
            self.tried += 1
            request = self.client.build_request(
                candidate.method,
                candidate.url,
                headers=[(k, v) for k, v in candidate.headers if k.lower() != "host"],
                content=candidate.body,
                timeout=timeout_of(candidate),
            )
            try:
                response = await self.client.send(request, stream=True)
                retry = response.status_code in RETRYABLE
                if retry or not stream:  # a whole body: read now (it may be cut or stall too)
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
            except asyncio.CancelledError:  # the app left: the key back, nothing learnt
                await self.keeper.release(candidate.lease, 0, self.record.route)
                candidate.lease = None
                raise
            except httpx.HTTPError as exc:
                await self.failed(
                    candidate, None, {}, b"", describe(exc), local=isinstance(exc, LOCAL_FAILURES)
                )
                continue
            if retry:
                await self.failed(
                    candidate, response.status_code, _lower(response), response.content
                )
                continue
            return candidate, response
        return None


#: Failures that may be crosswire's own (a connect timeout while the event loop is busy, no
#: free connection in the client's pool): the attempt fails over, the key is not cooled.
LOCAL_FAILURES = (httpx.ConnectTimeout, httpx.PoolTimeout)


def timeout_of(candidate: Candidate) -> httpx.Timeout:
    """The backend's timeouts: connect, silence before the headers and between chunks, write."""
    cfg = candidate.backend.config
    connect, read = cfg.timeouts()
    return httpx.Timeout(cfg.timeout, connect=connect, read=read)


_QUIET: dict[type[httpx.HTTPError], str] = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "no answer within the read timeout",
    httpx.PoolTimeout: "no free upstream connection",
}


def describe(exc: httpx.HTTPError) -> str:
    """A short reason for the record and the app's message (httpx's may be empty)."""
    text = str(exc) or _QUIET.get(type(exc), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def answer_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]


def _lower(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}
