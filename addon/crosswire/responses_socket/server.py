"""The loopback WebSocket server that mitmproxy hands a served Responses socket to.

mitmproxy relays a WebSocket between the app and a server it connects to; it cannot itself be
the server end of one (its WebSocket layer always forwards to a server connection). So the
upgrade is retargeted here, to ``ws://127.0.0.1:PORT/crosswire/responses-socket/<ticket>``:
mitmproxy still shows the socket as a flow with every message, in both directions, and this
server answers the messages. A ticket is single-use and says where the turns go.

The listening socket is bound synchronously on first use (the connect that follows waits in
the kernel's backlog until asyncio accepts it), so the engine's request hook needs no await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
import time

import httpx

from crosswire.responses_socket.session import Session, Ticket
from crosswire.responses_socket.wsconn import ServerSocket

log = logging.getLogger("crosswire")

PATH = "/crosswire/responses-socket/"
#: A ticket not used within this many seconds is dropped (its upgrade never arrived).
TICKET_TTL = 120.0


class SocketServer:
    def __init__(self) -> None:
        self._tickets: dict[str, tuple[float, Ticket]] = {}
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[None] | None = None
        self.port = 0
        self.sessions: set[Session] = set()
        #: The largest message an app may send (a whole conversation fits easily).
        self.max_message = 64 * 1024 * 1024

    def submit(self, ticket: Ticket) -> str:
        """Register a socket to serve; returns the URL mitmproxy should connect it to."""
        self._listen()
        now = time.monotonic()
        for token, (at, _) in list(self._tickets.items()):
            if now - at > TICKET_TTL:
                del self._tickets[token]
        token = secrets.token_urlsafe(16)
        self._tickets[token] = (now, ticket)
        return f"http://127.0.0.1:{self.port}{PATH}{token}"

    def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sock is not None and self._loop is loop:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._sock, self._loop = sock, loop
        self.port = int(sock.getsockname()[1])
        self._starting = loop.create_task(self._start(sock))

    async def _start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._handle, sock=sock)

    def _client(self, ticket: Ticket) -> httpx.AsyncClient:
        """One pooled client per (proxy, CA): turns of every socket reuse its connections."""
        key = (ticket.proxy, ticket.ca_file)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                proxy=ticket.proxy,
                verify=ssl.create_default_context(cafile=ticket.ca_file),
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(600.0, connect=10.0),
            )
            self._clients[key] = client
        return client

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerSocket(reader, writer, max_message=self.max_message)
        try:
            request = await conn.handshake()
            if request is None:
                return
            token = request.target.split("?", 1)[0].rsplit("/", 1)[-1]
            entry = self._tickets.pop(token, None)
            if not request.target.startswith(PATH) or entry is None:
                await conn.reject(404, b'{"error":{"message":"crosswire: unknown socket"}}')
                return
            ticket = entry[1]
            await conn.accept()
            session = Session(conn, ticket, self._client(ticket))
            self.sessions.add(session)
            try:
                await session.run()
            finally:
                self.sessions.discard(session)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("crosswire: the Responses socket server failed")
        finally:
            await conn.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._server = self._sock = None
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
