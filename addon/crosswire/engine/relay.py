"""A loopback relay for *streamed* requests that may need failover before their first byte.

Why it exists: once mitmproxy has received an upstream's 429 for a stream, it cannot fetch a
second answer and still stream it to the app (no addon API injects response data). So a streamed
request that another key or backend could serve is sent here instead of upstream: the relay runs
the flow's ``Failover`` (the same in-process attempt loop whole answers use), and streams the
first good answer back, chunk by chunk; mitmproxy's stream callable converts it as usual. Nothing
is retried after the first byte (docs/mitmproxy.md §7).

The exchange with mitmproxy is as small as it can be: mitmproxy sends only the request line and
headers (the job already holds each attempt's body, so the body crosses loopback once, to the
upstream); the job's outcome — which attempt served, or that all failed — stays in process on
the ``Job`` object the flow holds, never in headers to parse back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import h11
import httpx

from crosswire.engine.failover import Failover, answer_headers, describe
from crosswire.engine.planner import Candidate

log = logging.getLogger("crosswire")
# httpx logs every request at INFO, which would land in mitmproxy's event log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


@dataclass(slots=True)
class Job:
    """One streamed request's attempts; after the relay answered, ``served`` is the attempt
    whose stream is flowing, or None when every attempt failed (``failover.last`` says how)."""

    failover: Failover
    first: Candidate
    served: Candidate | None = None
    done: bool = False
    url: str = field(default="")


class Relay:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def running(self) -> bool:
        return self._server is not None

    def submit(self, job: Job) -> str:
        token = secrets.token_urlsafe(12)
        self._jobs[token] = job
        job.url = f"http://127.0.0.1:{self.port}/relay/{token}"
        return job.url

    def forget(self, job: Job) -> None:
        self._jobs.pop(job.url.rsplit("/", 1)[-1], None)

    def stop(self) -> None:
        """Sync, for mitmproxy's sync ``done`` hook."""
        if self._server is not None:
            self._server.close()
            self._server = None

    # ---- the loopback HTTP/1.1 server -------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                target = await _read_request(conn, reader)
                if target is None:
                    return
                job = self._jobs.pop(target.rsplit("/", 1)[-1], None)
                if job is None:
                    await _send_whole(conn, writer, 404, b'{"error":"unknown relay job"}', [])
                else:
                    await _until_hangup(reader, self._serve(conn, writer, job))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError):
            return
        except Exception:
            log.exception("crosswire: relay failed")
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, conn: h11.Connection, writer: asyncio.StreamWriter, job: Job) -> None:
        try:
            got = await job.failover.answer(stream=True, first=job.first)
        finally:
            job.done = True
        if got is None:
            await _send_failure(conn, writer, job)
            return
        candidate, response = got
        job.served = candidate
        try:
            headers = [*answer_headers(response), ("transfer-encoding", "chunked")]
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
        except httpx.HTTPError as exc:
            # Cut, or silent past its read timeout: closing without the chunked terminator
            # makes mitmproxy's error hook end the app's stream with its protocol's error.
            log.info("crosswire: relayed stream failed: %s", describe(exc))
            conn.send_failed()
            writer.close()
        finally:
            await response.aclose()


async def _until_hangup(reader: asyncio.StreamReader, serving: Coroutine[Any, Any, None]) -> None:
    """Serve, but stop at once when mitmproxy hangs up (the app left): cancelling the attempt
    closes its upstream request, so the provider stops generating and the key comes back."""
    task = asyncio.ensure_future(serving)
    hangup = asyncio.ensure_future(reader.read(1))
    try:
        await asyncio.wait((task, hangup), return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            if hangup.exception() is None and hangup.result():
                await task  # not a hang-up but a pipelined byte: finish, then close
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled() or hangup.done():
            raise ConnectionResetError("mitmproxy closed the relay connection")
    finally:
        for pending in (task, hangup):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending  # the reader is free again only once its read is gone
    task.result()


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> str | None:
    """The request target, once the whole request (headers, and an ignored body) is in."""
    target: str | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and target is None:
                return None
            continue
        if isinstance(event, h11.Request):
            target = event.target.decode()
        elif isinstance(event, h11.EndOfMessage):
            return target
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def _send_whole(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
) -> None:
    hdrs = [("content-type", "application/json"), *headers, ("content-length", str(len(body)))]
    writer.write(conn.send(h11.Response(status_code=status, headers=hdrs)) or b"")
    writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def _send_failure(conn: h11.Connection, writer: asyncio.StreamWriter, job: Job) -> None:
    """Every attempt failed: the last upstream error goes back as it was (the flow turns it
    into the app's error shape), or a 502 when no upstream answered at all."""
    last = job.failover.last
    if last is not None and last.status is not None:
        keep = [
            (k, v)
            for k, v in last.headers.items()
            if k not in ("content-length", "transfer-encoding", "connection", "content-encoding")
        ]
        await _send_whole(conn, writer, last.status, last.body, keep)
        return
    reason = last.reason if last else "no backend could take the request"
    body = json.dumps({"error": {"message": f"upstream unreachable: {reason}"}}).encode()
    await _send_whole(conn, writer, 502, body, [])


__all__ = ["Job", "Relay", "httpx"]
