"""One app socket, served: each ``response.create`` becomes a ``POST /v1/responses`` through
crosswire's own proxy listener, and that answer's events go back over the socket as they come.

Why through the proxy listener, and over HTTPS: the turn is then an ordinary flow, so the whole
engine applies unchanged — routing by model, conversion, the key pool, failover, usage
accounting, mitmweb's original ⇄ converted view — and a model no route claims goes where the
app's HTTPS fallback would have gone (its own host, with its own key, over TLS), never in clear
text. The socket keeps only what HTTP cannot: the conversation behind ``previous_response_id``.

Turns run one at a time, in the order they were sent (OpenAI runs one lane FIFO too). When the
app hangs up mid-answer the turn is cancelled, which closes the POST; the engine then sees its
flow fail and releases the key as for any app that disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from crosswire.responses_socket.conversation import (
    Conversation,
    MessageError,
    Turn,
    new_response_id,
    parse_message,
)
from crosswire.responses_socket.events import (
    TurnEvents,
    error_event,
    http_error_event,
    warmup_events,
)
from crosswire.responses_socket.wsconn import SocketClosed

log = logging.getLogger("crosswire")

#: Upgrade-request headers that describe the socket, not a request made on it.
_SOCKET_HEADERS = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "content-length",
        "transfer-encoding",
        "accept-encoding",
        "keep-alive",
        "te",
        "proxy-connection",
        "proxy-authorization",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)


@dataclass(frozen=True, slots=True)
class Ticket:
    """Where a served socket sends its turns: the app's original URL, through which proxy."""

    url: str  # https://api.openai.com/v1/responses (with the app's query)
    proxy: str  # http://127.0.0.1:8080, crosswire's own listener
    ca_file: str  # the mitmproxy CA, which signs what that listener presents
    #: The app's headers for every turn (see :func:`turn_headers`), its credential included:
    #: kept here so the socket's stored flow can be redacted before it is relayed.
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 600.0
    label: str = ""


class WebSocket(Protocol):
    """What a session needs of the app's socket (:class:`~.wsconn.ServerSocket`)."""

    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...
    async def wait_closed(self) -> None: ...


def turn_headers(upgrade: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The app's headers for each turn: its credential, session ids, user agent… — without the
    socket's own, and without the ``responses_websockets`` beta flag (it is about the socket)."""
    out: list[tuple[str, str]] = []
    for name, value in upgrade:
        lower = name.lower()
        if lower in _SOCKET_HEADERS:
            continue
        if lower == "openai-beta":
            flags = [f for f in value.split(",") if "responses_websockets" not in f.lower()]
            value = ",".join(f.strip() for f in flags if f.strip())
            if not value:
                continue
        out.append((name, value))
    out += [
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("accept-encoding", "identity"),
    ]
    return out


class Session:
    def __init__(
        self,
        ws: WebSocket,
        ticket: Ticket,
        client: httpx.AsyncClient,
    ) -> None:
        self.ws = ws
        self.ticket = ticket
        self.client = client
        self.conversation = Conversation()
        self.turns = 0

    async def run(self) -> None:
        """Serve messages until the app closes the socket."""
        closed = asyncio.ensure_future(self.ws.wait_closed())
        try:
            while True:
                try:
                    raw = await self.ws.recv()
                except SocketClosed:  # the app is gone
                    return
                work = asyncio.ensure_future(self.handle(raw))
                done, _ = await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
                if work not in done:  # the app hung up mid-answer: stop the turn
                    work.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await work
                    return
                failed = work.exception()
                if failed is not None:
                    if not isinstance(failed, SocketClosed):
                        log.error("crosswire: serving a Responses socket failed", exc_info=failed)
                    return  # the socket is gone (or unusable)
        finally:
            closed.cancel()

    async def handle(self, raw: str | bytes) -> None:
        try:
            turn = self.conversation.plan(parse_message(raw))
        except MessageError as exc:
            await self.ws.send(
                json.dumps(error_event(exc.status, str(exc), code=exc.code, param=exc.param))
            )
            return
        self.turns += 1
        if not turn.generate:
            await self._warmup(turn)
        else:
            await self._generate(turn)

    async def _warmup(self, turn: Turn) -> None:
        events = TurnEvents(turn.stream_id)
        for event in warmup_events(turn.model, new_response_id()):
            await self.ws.send(events.add(event))
        self.conversation.remember(turn, events.response_id, [])

    async def _generate(self, turn: Turn) -> None:
        events = TurnEvents(turn.stream_id)
        body = json.dumps(turn.body, ensure_ascii=False, separators=(",", ":")).encode()
        request = self.client.build_request(
            "POST",
            self.ticket.url,
            headers=list(self.ticket.headers),
            content=body,
            timeout=httpx.Timeout(self.ticket.timeout, connect=10.0),
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            message = (
                f"crosswire: could not send this turn through the proxy ({type(exc).__name__})"
            )
            await self.ws.send(events.add(error_event(502, message)))
            return
        try:
            await self._relay(response, events)
        finally:
            await response.aclose()
        if events.continuable:
            self.conversation.remember(turn, events.response_id, events.output)

    async def _relay(self, response: httpx.Response, events: TurnEvents) -> None:
        ctype = response.headers.get("content-type", "")
        if response.status_code >= 400 or "event-stream" not in ctype:
            body = await response.aread()
            if response.status_code >= 400:
                headers = {k.lower(): v for k, v in response.headers.items()}
                event = http_error_event(response.status_code, headers, body)
            else:
                event = _whole_answer(body)
            await self.ws.send(events.add(event))
            return
        async for chunk in response.aiter_bytes():
            for text in events.feed(chunk):
                await self.ws.send(text)
        for text in events.flush():
            await self.ws.send(text)


def _whole_answer(body: bytes) -> dict[str, Any]:
    """A whole (unstreamed) Responses object, as its one terminal event."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("object") != "response":
        return error_event(502, "crosswire: the answer to this turn was not a Responses stream")
    kind = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
        str(data.get("status")), "response.failed"
    )
    return {"type": kind, "response": data}
