"""A loopback upstream that misbehaves on purpose, one fault per model name.

The fault is read from the request's model (``f-<fault>-…`` in the JSON body, or in a Gemini
path); the protocol from the path, so the good parts of an answer (a stream's first events, a
whole answer) are real recordings in that protocol's exact wire format. Raw asyncio sockets,
so that it can do what a well-behaved HTTP server cannot: reset, stall, cut a chunked body.

Faults that live below HTTP have their own listeners: ``dead_url`` refuses connections,
``blackhole_url`` never completes a TCP handshake (a full accept queue drops the SYN), and an
``https://`` URL to ``url`` fails TLS (the server speaks plain HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.e2e.harness import free_port, reply_from_fixture

#: (stream fixture, whole fixture) per protocol, as the path shows it.
FIXTURES = {
    "openai-chat": (
        "openai_chat/stream_text_no_usage.json",
        "openai_chat/nonstream_tool_call.json",
    ),
    "openai-responses": (
        "openai_responses/stream_text_basic.json",
        "openai_responses/nonstream_text_basic.json",
    ),
    "anthropic": ("anthropic/stream_text_basic.json", "anthropic/nonstream_text_basic.json"),
    "gemini": ("gemini/sse_text_basic.json", "gemini/nonstream_text_basic.json"),
    "ollama": ("ollama/chat_stream_ndjson_llama3.json", "ollama/chat_nonstream_text.json"),
}
#: Every fault the server plays, and what each does.
FAULTS = {
    "ok": "a good answer",
    "reset": "reads the request, then resets the connection (RST)",
    "hang": "reads the request and never answers (no headers)",
    "stall": "sends the headers and the first events (half a whole body), then goes silent",
    "close": "sends the headers and the first events (half a whole body), then closes",
    "malformed": "a 200 whose stream has an event that is not JSON (a whole body that is not)",
    "html": "a load balancer's 502 HTML page",
    "error200": "a 200 whose body is an error object",
    "slow": "a good stream, one event every 50 ms, padded to last ~10 s",
    "stale": "a good answer on a new connection; on a kept-alive one, reads the request and "
    "closes without a byte (its idle timeout racing the request)",
}
HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>\r\n"
)
ERROR_200 = b'{"error":{"message":"internal error","type":"server_error","code":500}}'
_GEMINI_MODEL = re.compile(r"/models/([^/:]+):")


def protocol_of(path: str) -> str:
    if path.startswith("/api/"):
        return "ollama"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    return "openai-chat"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: How a played answer ended: "complete", or "cancelled" when the proxy hung up first.
    ended: str = ""
    #: How many requests its connection carried before this one.
    kept_alive: int = 0

    @property
    def protocol(self) -> str:
        return protocol_of(self.path.split("?", 1)[0])

    @property
    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def model(self) -> str:
        m = _GEMINI_MODEL.search(self.path)
        return m.group(1) if m else str(self.json.get("model", ""))

    @property
    def fault(self) -> str:
        parts = self.model.split("-")
        return parts[1] if len(parts) > 1 and parts[0] == "f" else "ok"

    @property
    def stream(self) -> bool:
        if self.protocol == "gemini":
            return ":streamGenerateContent" in self.path
        if self.protocol == "ollama":
            return self.json.get("stream", True) is not False
        return self.json.get("stream") is True


class Faulty:
    """The server, on its own event loop in a thread. ``open`` counts connections still open
    (an upstream request the proxy should have cancelled shows here)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.open = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = f"https://127.0.0.1:{self.port}"  # plain HTTP behind: TLS fails
        self.dead_url = f"http://127.0.0.1:{free_port()}"
        self._blackhole = _full_backlog()
        self.blackhole_url = f"http://127.0.0.1:{self._blackhole[0].getsockname()[1]}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        )
        self.port = int(server.sockets[0].getsockname()[1])
        self._server = server
        self._ready.set()
        self.loop.run_forever()

    def count(self, fault: str) -> int:
        return sum(1 for r in self.requests if r.fault == fault)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        for s in self._blackhole:
            s.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        served = 0
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except ConnectionAbortedError:
                    writer.write(_head(400, {"content-type": "text/html"}, length=0))
                    return
                if req is None:
                    return
                req.kept_alive, served = served, served + 1
                self.requests.append(req)
                if not await PLAYS.get(req.fault, _ok)(req, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.open -= 1
            if not writer.transport.is_closing():
                writer.close()


# ---- the plays: each returns True to keep the connection for another request ----------------

Play = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Any]


def _parts(req: Request) -> tuple[dict[str, str], list[bytes], bytes]:
    """(headers, stream events, whole body) recorded for the request's protocol."""
    stream_name, whole_name = FIXTURES[req.protocol]
    reply = reply_from_fixture(stream_name if req.stream else whole_name)
    events = reply.body if isinstance(reply.body, list) else [reply.body]
    whole = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
    return dict(reply.headers), events, whole


def _head(status: int, headers: dict[str, str], *, length: int | None = None) -> bytes:
    reason = {200: "OK", 502: "Bad Gateway"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines.append(
        f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _ok(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    headers, events, whole = _parts(req)
    if req.stream:
        writer.write(_head(200, headers) + b"".join(_chunk(e) for e in events) + b"0\r\n\r\n")
    else:
        writer.write(_head(200, headers, length=len(whole)) + whole)
    await writer.drain()
    return True


async def _slow(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    headers, events, _ = _parts(req)
    writer.write(_head(200, headers))
    padding = b"\n" if req.protocol == "ollama" else b": pad\n\n"
    try:
        for event in events[:1] + [padding] * 200 + events[1:]:
            if writer.transport.is_closing() or reader.at_eof():
                raise ConnectionResetError
            writer.write(_chunk(event))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except ConnectionError:
        req.ended = "cancelled"
        raise
    req.ended = "complete"
    return True


async def _reset(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return False


async def _hang(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    await reader.read()  # until the proxy gives up and closes
    return False


async def _half(req: Request, writer: asyncio.StreamWriter) -> None:
    headers, events, whole = _parts(req)
    if req.stream:
        writer.write(_head(200, headers) + b"".join(_chunk(e) for e in events[:2]))
    else:
        writer.write(_head(200, headers, length=len(whole)) + whole[: len(whole) // 2])
    await writer.drain()


async def _stall(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    await _half(req, writer)
    await reader.read()
    return False


async def _close(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    await _half(req, writer)
    writer.close()
    return False


async def _stale(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    if not req.kept_alive:
        return bool(await _ok(req, reader, writer))
    writer.close()
    return False


async def _malformed(
    req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    headers, events, _ = _parts(req)
    if req.stream:
        bad = (
            b'{"message": {"content": "cut\n'
            if req.protocol == "ollama"
            else b"data: {not json\n\n"
        )
        writer.write(_head(200, headers) + _chunk(events[0]) + _chunk(bad) + b"0\r\n\r\n")
    else:
        body = b'{"id": "x", "choices": [{"message": '
        writer.write(_head(200, headers, length=len(body)) + body)
    await writer.drain()
    return True


async def _html(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    head = _head(502, {"content-type": "text/html", "server": "nginx"}, length=len(HTML_502))
    writer.write(head + HTML_502)
    await writer.drain()
    return True


async def _error200(
    req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    head = _head(200, {"content-type": "application/json"}, length=len(ERROR_200))
    writer.write(head + ERROR_200)
    await writer.drain()
    return True


PLAYS: dict[str, Play] = {
    "ok": _ok,
    "slow": _slow,
    "reset": _reset,
    "hang": _hang,
    "stall": _stall,
    "close": _close,
    "malformed": _malformed,
    "html": _html,
    "error200": _error200,
    "stale": _stale,
}


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request; None at the end — or for a TLS ClientHello, which a plain HTTP server
    refuses as nginx does (the client's handshake then fails at once)."""
    try:
        first = await reader.readexactly(1)
        if first == b"\x16":
            raise ConnectionAbortedError("TLS spoken to a plain HTTP port")
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, body)


def _full_backlog() -> list[socket.socket]:
    """A listener whose accept queue is full: further SYNs are dropped, connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(2):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(listener.getsockname())
        fillers.append(s)
    return [listener, *fillers]
