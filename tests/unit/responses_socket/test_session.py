"""A served socket's message handling: turns in order, events out one by one, errors, hang-ups.

The app's socket is a fake; the proxy listener is an ``httpx.MockTransport`` that records each
turn's request and answers with Responses SSE, as crosswire's engine would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from crosswire.responses_socket.session import Session, Ticket, turn_headers
from crosswire.responses_socket.wsconn import SocketClosed


class FakeSocket:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.got_event = asyncio.Event()
        self._closed = asyncio.Event()

    def client_sends(self, **message: Any) -> None:
        self.inbox.put_nowait(json.dumps(message))

    def hang_up(self) -> None:
        self._closed.set()
        self.inbox.put_nowait(None)

    async def send(self, message: str) -> None:
        if self._closed.is_set():
            raise SocketClosed()
        self.sent.append(json.loads(message))
        self.got_event.set()

    async def recv(self) -> str | bytes:
        message = await self.inbox.get()
        if message is None:
            self.inbox.put_nowait(None)
            raise SocketClosed()
        return message

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def types(self) -> list[str]:
        return [e["type"] for e in self.sent]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )


def answer(rid: str, text: str) -> bytes:
    item = {
        "type": "message",
        "id": f"msg_{rid}",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return sse(
        {
            "type": "response.created",
            "response": {"id": rid, "status": "in_progress", "output": []},
        },
        {"type": "response.output_text.delta", "delta": text},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {
            "type": "response.completed",
            "response": {"id": rid, "status": "completed", "output": [item]},
        },
    )


class SlowStream(httpx.AsyncByteStream):
    """An answer that sends its first event and then waits (a slow model)."""

    def __init__(self, first: bytes) -> None:
        self.first = first
        self.closed = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        await asyncio.sleep(30)
        yield b""

    async def aclose(self) -> None:
        self.closed.set()


def make_session(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[Session, FakeSocket, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    ws = FakeSocket()
    ticket = Ticket(
        url="https://api.openai.com/v1/responses",
        proxy="http://127.0.0.1:1",
        ca_file="/ca.pem",
        headers=tuple(turn_headers([("Authorization", "Bearer sk-app"), ("session_id", "s1")])),
    )
    return Session(ws, ticket, client), ws, seen


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def sse_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


async def serve(session: Session, ws: FakeSocket) -> None:
    """Run the session until the queued messages end (a ``None`` in the inbox: the app left)."""
    await asyncio.wait_for(session.run(), timeout=10)


async def test_two_turns_on_one_socket_send_the_whole_history_the_second_time() -> None:
    replies = iter([answer("resp_1", "one"), answer("resp_2", "two")])
    session, ws, seen = make_session(lambda r: sse_response(next(replies)))
    ws.client_sends(type="response.create", model="gpt-5", input=[user("a")], store=False)
    ws.client_sends(
        type="response.create", model="gpt-5", previous_response_id="resp_1", input=[user("b")]
    )
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert (
        ws.types()
        == [
            "response.created",
            "response.output_text.delta",
            "response.output_item.done",
            "response.completed",
        ]
        * 2
    )
    first, second = (json.loads(r.content) for r in seen)
    assert first == {"model": "gpt-5", "input": [user("a")], "store": False, "stream": True}
    assert [i.get("role") for i in second["input"]] == ["user", "assistant", "user"]
    assert second["input"][1]["content"][0]["text"] == "one"
    assert "previous_response_id" not in second
    assert all(str(r.url) == "https://api.openai.com/v1/responses" for r in seen)
    assert seen[0].headers["authorization"] == "Bearer sk-app"
    assert seen[0].headers["session_id"] == "s1"
    assert seen[0].headers["accept"] == "text/event-stream"


async def test_a_warmup_is_answered_without_a_backend_call_and_can_be_continued() -> None:
    session, ws, seen = make_session(lambda r: sse_response(answer("resp_9", "ok")))
    ws.client_sends(type="response.create", model="gpt-5", input=[user("ctx")], generate=False)
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert ws.types() == ["response.created", "response.in_progress", "response.completed"]
    assert seen == []
    warm_id = ws.sent[-1]["response"]["id"]
    ws.inbox = asyncio.Queue()  # the same session (and memory) reads on
    ws.client_sends(
        type="response.create", model="gpt-5", previous_response_id=warm_id, input=[user("go")]
    )
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert json.loads(seen[0].content)["input"] == [user("ctx"), user("go")]


async def test_upstream_http_errors_come_back_as_the_error_event() -> None:
    body = {"error": {"message": "no key available", "type": "rate_limit_error", "code": None}}
    session, ws, _ = make_session(
        lambda r: httpx.Response(429, headers={"retry-after": "2"}, json=body)
    )
    ws.client_sends(type="response.create", model="gpt-5", input=[user("a")])
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    (event,) = ws.sent
    assert event["type"] == "error" and event["status"] == 429
    assert event["error"]["message"] == "no key available"
    assert event["headers"] == {"retry-after": "2"}


async def test_a_failed_turn_cannot_be_continued() -> None:
    session, ws, _ = make_session(lambda r: httpx.Response(500, json={"error": {"message": "x"}}))
    ws.client_sends(type="response.create", model="gpt-5", input=[user("a")])
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert len(session.conversation) == 0


async def test_an_unreachable_proxy_is_a_502_error_event() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    session, ws, _ = make_session(refuse)
    ws.client_sends(type="response.create", model="gpt-5", input=[user("a")])
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert ws.sent[0]["type"] == "error" and ws.sent[0]["status"] == 502


async def test_bad_messages_get_an_error_event_and_the_socket_goes_on() -> None:
    session, ws, seen = make_session(lambda r: sse_response(answer("resp_1", "ok")))
    ws.inbox.put_nowait("{not json")
    ws.client_sends(type="response.cancel")
    ws.client_sends(type="response.create", model="m", previous_response_id="resp_x", input=[])
    ws.client_sends(type="response.create", model="m", input=[user("fine")])
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    codes = [e["error"]["code"] for e in ws.sent if e["type"] == "error"]
    assert codes == ["invalid_json", "unsupported_event_type", "previous_response_not_found"]
    assert ws.sent[-1]["type"] == "response.completed" and len(seen) == 1


async def test_a_whole_json_answer_is_one_terminal_event() -> None:
    obj = {"id": "resp_w", "object": "response", "status": "completed", "output": []}
    session, ws, _ = make_session(lambda r: httpx.Response(200, json=obj))
    ws.client_sends(type="response.create", model="m", input=[user("a")])
    ws.inbox.put_nowait(None)
    await serve(session, ws)
    assert ws.sent == [{"type": "response.completed", "response": obj}]
    assert len(session.conversation) == 1


async def test_the_app_hanging_up_mid_answer_closes_the_turn() -> None:
    first = sse({"type": "response.created", "response": {"id": "resp_s", "output": []}})
    stream = SlowStream(first)
    session, ws, _ = make_session(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)
    )
    ws.client_sends(type="response.create", model="m", input=[user("a")])
    task = asyncio.ensure_future(session.run())
    await asyncio.wait_for(ws.got_event.wait(), 5)
    ws.hang_up()
    await asyncio.wait_for(task, 5)
    await asyncio.wait_for(stream.closed.wait(), 5)
    assert ws.types() == ["response.created"]
    assert len(session.conversation) == 0


@pytest.mark.parametrize(
    ("upgrade", "kept"),
    [
        (
            [("Authorization", "Bearer k"), ("Host", "api.openai.com")],
            [("Authorization", "Bearer k")],
        ),
        ([("Sec-WebSocket-Key", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade")], []),
        ([("OpenAI-Beta", "responses_websockets=2026-02-06")], []),
        (
            [("OpenAI-Beta", "responses_websockets=2026-02-06, other=v1")],
            [("OpenAI-Beta", "other=v1")],
        ),
        (
            [("Accept-Encoding", "gzip, zstd"), ("x-codex-turn-metadata", "{}")],
            [("x-codex-turn-metadata", "{}")],
        ),
    ],
)
def test_turn_headers_keep_the_apps_and_drop_the_sockets(
    upgrade: list[tuple[str, str]], kept: list[tuple[str, str]]
) -> None:
    assert turn_headers(upgrade) == [
        *kept,
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("accept-encoding", "identity"),
    ]
