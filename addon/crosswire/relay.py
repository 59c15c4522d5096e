"""An in-process loopback relay: transparent failover before the first byte, then streaming.

Why it exists (MITMPROXY_NOTES §3): once mitmproxy has received an upstream's 429 it cannot
fetch a second answer and still stream it. So for a request that may need another key, the
addon points the flow at this relay; the relay calls the real upstream itself (one pooled
``httpx.AsyncClient`` shared by every flow), and on a 429/5xx/connection failure *before any
byte was sent to the app* it asks the job for the next attempt (another key, or the next
backend of a fallback chain) and tries again. The first acceptable answer is streamed through
unchanged; mitmproxy's stream callable converts it as usual. Nothing is retried after the first
byte reached the app.

Theory of operation: ``Relay.submit(job)`` returns a URL path; mitmproxy sends the flow there;
the relay parses it with h11, runs ``job.run(...)``, writes the chosen answer back with an
``x-crosswire-served`` header naming the attempt that served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import h11
import httpx

log = logging.getLogger("crosswire")
# httpx logs every request at INFO, which would land in mitmproxy's event log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

#: Statuses worth another key: a refused key, rate limits, overload, server errors.
RETRYABLE = frozenset({401, 403, 408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
SERVED_HEADER = "x-crosswire-served"


@dataclass(slots=True)
class Attempt:
    """One try: where to send, and what to call with its outcome."""

    label: str  # "backend/key" for the comment, never a secret
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    timeout: float = 600.0


@dataclass(slots=True)
class Failure:
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str = ""


class Job:
    """Produces attempts lazily (a key is leased only when needed) and hears their fate."""

    def __init__(
        self,
        next_attempt: Callable[[], Awaitable[Attempt | None]],
        on_failure: Callable[[Attempt, Failure], Awaitable[None]],
        max_attempts: int = 4,
    ) -> None:
        self.next_attempt = next_attempt
        self.on_failure = on_failure
        self.max_attempts = max_attempts
        self.tried: list[str] = []
        self.served: Attempt | None = None
        self.last_failure: Failure | None = None


class Relay:
    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            trust_env=False,
            timeout=httpx.Timeout(600.0, connect=10.0),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
        )
        self._jobs: dict[str, Job] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def running(self) -> bool:
        return self._server is not None

    def submit(self, job: Job) -> str:
        token = secrets.token_urlsafe(12)
        self._jobs[token] = job
        return f"http://127.0.0.1:{self.port}/relay/{token}"

    def forget(self, url: str) -> None:
        self._jobs.pop(url.rsplit("/", 1)[-1], None)

    def stop_listening(self) -> None:
        """Sync, for mitmproxy's sync ``done`` hook."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.client.aclose()

    # ---- the loopback HTTP/1.1 server -------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, reader)
                if request is None:
                    return
                target = request.target.decode()
                job = self._jobs.pop(target.rsplit("/", 1)[-1], None)
                if job is None:
                    await self._send_simple(conn, writer, 404, b'{"error":"unknown relay job"}')
                else:
                    await self._serve(conn, writer, job)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:
            log.exception("crosswire: relay failed")
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Request | None:
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and request is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send_simple(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        hdrs = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            *(headers or []),
        ]
        writer.write(conn.send(h11.Response(status_code=status, headers=hdrs)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    async def _serve(self, conn: h11.Connection, writer: asyncio.StreamWriter, job: Job) -> None:
        response: httpx.Response | None = None
        while len(job.tried) < job.max_attempts:
            attempt = await job.next_attempt()
            if attempt is None:
                break
            job.tried.append(attempt.label)
            request = self.client.build_request(
                attempt.method,
                attempt.url,
                headers=attempt.headers,
                content=attempt.body,
                timeout=httpx.Timeout(attempt.timeout, connect=10.0),
            )
            try:
                candidate = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                failure = Failure(status=None, reason=f"{type(exc).__name__}: {exc}")
                job.last_failure = failure
                await job.on_failure(attempt, failure)
                continue
            if candidate.status_code in RETRYABLE:
                body = await candidate.aread()
                await candidate.aclose()
                failure = Failure(
                    status=candidate.status_code,
                    headers={k.lower(): v for k, v in candidate.headers.items()},
                    body=body,
                )
                job.last_failure = failure
                await job.on_failure(attempt, failure)
                continue
            response = candidate
            job.served = attempt
            break
        if response is None:
            await self._send_failure(conn, writer, job)
            return
        assert job.served is not None
        try:
            headers = [
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower()
                not in ("content-length", "transfer-encoding", "connection", "keep-alive")
            ]
            headers.append((SERVED_HEADER, f"{len(job.tried)};{job.served.label}"))
            headers.append(("transfer-encoding", "chunked"))
            writer.write(
                conn.send(h11.Response(status_code=response.status_code, headers=headers)) or b""
            )
            await writer.drain()
            async for chunk in response.aiter_raw():
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)) or b"")
                    if writer.transport.get_write_buffer_size() > 65536:
                        await writer.drain()  # backpressure only when mitmproxy falls behind
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        finally:
            await response.aclose()

    async def _send_failure(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, job: Job
    ) -> None:
        """Every attempt failed: the last upstream error goes back as it was (the addon turns it
        into the app's error shape), or a 502 when no upstream answered at all."""
        failure = job.last_failure
        served = (SERVED_HEADER, f"{len(job.tried)};{job.tried[-1] if job.tried else '-'};failed")
        if failure is not None and failure.status is not None:
            keep = [
                (k, v)
                for k, v in failure.headers.items()
                if k
                not in ("content-length", "transfer-encoding", "connection", "content-encoding")
            ]
            await self._send_simple(conn, writer, failure.status, failure.body, [*keep, served])
            return
        reason = failure.reason if failure else "no backend could take the request"
        body = (
            '{"error":{"message":' + _json_str(f"upstream unreachable: {reason}") + "}}"
        ).encode()
        await self._send_simple(conn, writer, 502, body, [served, ("x-crosswire-unreachable", "1")])


def _json_str(text: str) -> str:
    import json

    return json.dumps(text)
