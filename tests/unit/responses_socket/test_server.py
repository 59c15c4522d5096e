"""The loopback WebSocket server over a real socket: handshake, tickets, framing, close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from crosswire.responses_socket.server import SocketServer
from crosswire.responses_socket.session import Ticket, turn_headers

TICKET = Ticket(
    url="https://api.openai.com/v1/responses",
    proxy="http://127.0.0.1:1",
    ca_file="/ca",
    headers=tuple(
        turn_headers(
            [("Authorization", "Bearer sk-app"), ("OpenAI-Beta", "responses_websockets=2026-02-06")]
        )
    ),
)


@pytest.fixture
async def server() -> AsyncIterator[tuple[SocketServer, list[httpx.Request]]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = (
            b'data: {"type":"response.created","response":{"id":"resp_1"}}\n\n'
            b'data: {"type":"response.completed","response":{"id":"resp_1","output":[]}}\n\n'
        )
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    srv = SocketServer()
    srv._clients[(TICKET.proxy, TICKET.ca_file)] = httpx.AsyncClient(
        transport=httpx.MockTransport(answer)
    )
    yield srv, seen
    await srv.close()


async def test_a_ticket_serves_one_socket_with_the_apps_headers(
    server: tuple[SocketServer, list[httpx.Request]],
) -> None:
    srv, seen = server
    url = srv.submit(TICKET)
    assert url.startswith("http://127.0.0.1:")
    # the upgrade reaching this server carries no credential: the ticket holds the app's
    async with connect(url.replace("http:", "ws:")) as ws:
        await ws.send(json.dumps({"type": "response.create", "model": "m", "input": "hi"}))
        events = [json.loads(await ws.recv()) for _ in range(2)]
    assert [e["type"] for e in events] == ["response.created", "response.completed"]
    assert seen[0].headers["authorization"] == "Bearer sk-app"
    assert "openai-beta" not in seen[0].headers
    # single use: the same ticket does not open a second socket
    with pytest.raises(InvalidStatus) as err:
        async with connect(url.replace("http:", "ws:")):
            pass
    assert err.value.response.status_code == 404


async def test_unknown_paths_are_refused(server: tuple[SocketServer, list[httpx.Request]]) -> None:
    srv, _ = server
    srv.submit(TICKET)
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://127.0.0.1:{srv.port}/elsewhere"):
            pass


async def test_pings_are_answered_and_fragments_joined(
    server: tuple[SocketServer, list[httpx.Request]],
) -> None:
    srv, seen = server
    url = srv.submit(TICKET).replace("http:", "ws:")
    async with connect(url) as ws:
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
        text = json.dumps({"type": "response.create", "model": "m", "input": "x" * 50})
        await ws.send([text[:10], text[10:30], text[30:]])  # one message in three frames
        assert json.loads(await ws.recv())["type"] == "response.created"
    assert json.loads(seen[0].content)["input"][0]["content"] == "x" * 50


async def test_an_oversized_message_closes_the_socket(
    server: tuple[SocketServer, list[httpx.Request]],
) -> None:
    srv, seen = server
    srv.max_message = 1024
    url = srv.submit(TICKET).replace("http:", "ws:")
    async with connect(url, max_size=None) as ws:
        await ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed) as err:
            await ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1009
    assert seen == []


async def test_the_app_closing_ends_the_session(
    server: tuple[SocketServer, list[httpx.Request]],
) -> None:
    srv, _ = server
    url = srv.submit(TICKET).replace("http:", "ws:")
    async with connect(url) as ws:
        await asyncio.sleep(0.05)
        assert len(srv.sessions) == 1
    for _ in range(100):
        if not srv.sessions:
            break
        await asyncio.sleep(0.02)
    assert not srv.sessions
    with pytest.raises(ConnectionClosed):
        await ws.recv()


@pytest.mark.parametrize(
    ("addrs", "url"),
    [
        ([("regular", ("127.0.0.1", 8080))], "http://127.0.0.1:8080"),
        ([("regular", ("0.0.0.0", 9))], "http://127.0.0.1:9"),
        ([("regular", ("::", 9, 0, 0))], "http://[::1]:9"),
        ([("regular", ("::1", 9, 0, 0)), ("regular", ("127.0.0.1", 8))], "http://[::1]:9"),
        ([], None),
    ],
)
def test_turns_go_to_the_first_proxy_listener(
    addrs: list[tuple[str, tuple[Any, ...]]], url: str | None
) -> None:
    from crosswire.responses_socket import proxy_url

    assert proxy_url(addrs) == url
