"""A server-side WebSocket over an asyncio stream, framed by ``wsproto`` (a mitmproxy
dependency: nothing new to install).

Only what a Responses socket needs: the handshake (accept or refuse with a status), whole text
and binary messages in, text messages out, pings answered, a close in either direction. A
background reader keeps draining the connection while a turn is being answered, so a close or
a dropped connection from the app is seen at once (``wait_closed``), not at the next send.
"""

from __future__ import annotations

import asyncio
import contextlib

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError


class SocketClosed(Exception):
    """The app closed the socket (or the connection dropped)."""


class ServerSocket:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_message: int = 64 * 1024 * 1024,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = WSConnection(ConnectionType.SERVER)
        self._max = max_message
        self._messages: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.request: Request | None = None

    # ---- handshake ---------------------------------------------------------------------------

    async def handshake(self) -> Request | None:
        """Read the upgrade request (None when the peer is not speaking WebSocket)."""
        while self.request is None:
            data = await self._reader.read(65536)
            if not data:
                return None
            try:
                self._ws.receive_data(data)
                for event in self._ws.events():
                    if isinstance(event, Request):
                        self.request = event
            except RemoteProtocolError as exc:
                hint = exc.event_hint
                if isinstance(hint, RejectConnection):
                    with contextlib.suppress(Exception):
                        self._writer.write(self._ws.send(hint))
                return None
        return self.request

    async def accept(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self._writer.write(self._ws.send(AcceptConnection(extra_headers=headers or [])))
        await self._writer.drain()
        self._task = asyncio.ensure_future(self._read_loop())

    async def reject(self, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        self._writer.write(
            self._ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
        )
        self._writer.write(self._ws.send(RejectData(data=body)))
        await self._writer.drain()
        self._writer.close()

    # ---- messages ----------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        message = await self._messages.get()
        if message is None:
            self._messages.put_nowait(None)  # every later recv sees the close too
            raise SocketClosed()
        return message

    async def send(self, text: str) -> None:
        if self._closed.is_set():
            raise SocketClosed()
        try:
            self._writer.write(self._ws.send(Message(data=text)))
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._set_closed()
            raise SocketClosed() from exc

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed.is_set():
            with contextlib.suppress(Exception):
                self._writer.write(self._ws.send(CloseConnection(code=code, reason=reason)))
                await self._writer.drain()
        self._set_closed()
        if self._task is not None:
            self._task.cancel()
        with contextlib.suppress(Exception):
            self._writer.close()

    # ---- the background reader ---------------------------------------------------------------

    async def _read_loop(self) -> None:
        parts: list[str | bytes] = []
        size = 0
        try:
            while True:
                data = await self._reader.read(65536)
                self._ws.receive_data(data or None)
                for event in self._ws.events():
                    if isinstance(event, (TextMessage, BytesMessage)):
                        parts.append(
                            bytes(event.data) if isinstance(event.data, bytearray) else event.data
                        )
                        size += len(event.data)
                        if size > self._max:
                            self._writer.write(
                                self._ws.send(CloseConnection(code=1009, reason="message too big"))
                            )
                            return
                        if event.message_finished:
                            self._messages.put_nowait(_join(parts))
                            parts, size = [], 0
                    elif isinstance(event, Ping):
                        self._writer.write(self._ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        with contextlib.suppress(Exception):
                            self._writer.write(self._ws.send(event.response()))
                        return
                if not data:
                    return
        except (ConnectionError, RemoteProtocolError, asyncio.IncompleteReadError):
            return
        finally:
            self._set_closed()
            with contextlib.suppress(Exception):
                self._writer.close()

    def _set_closed(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._messages.put_nowait(None)


def _join(parts: list[str | bytes]) -> str | bytes:
    if parts and isinstance(parts[0], str):
        return "".join(p for p in parts if isinstance(p, str))
    return b"".join(p for p in parts if isinstance(p, bytes))
