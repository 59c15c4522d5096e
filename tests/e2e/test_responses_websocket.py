"""Codex's Responses WebSocket served on Anthropic and Gemini backends, end to end.

A Python WebSocket client speaks exactly what Codex sends (its ``response.create`` shape, its
warm-up, ``previous_response_id`` with only the new items) through ``HTTPS_PROXY``: CONNECT,
TLS with the mitmproxy CA, then the upgrade. A real crosswire serves the socket; loopback
upstreams answer with recorded Anthropic / Gemini streams. Then the real Codex CLI does the
same through ``crosswire exec``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from tests.e2e.harness import (
    VENV_BIN,
    Proxy,
    Recorded,
    Reply,
    Upstream,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

BACKENDS = ("anthropic", "gemini")
FIXTURES = {
    "anthropic": {
        "text": "anthropic/stream_text_basic.json",
        "tool": "anthropic/stream_tool_use_input_json_delta.json",
        "error": "anthropic/error_400_invalid_request.json",
    },
    "gemini": {
        "text": "gemini/sse_text_basic.json",
        "tool": "gemini/sse_function_call_gemini25.json",
        "error": "gemini/error_404_model_not_found.json",
    },
}
TEXT = {"anthropic": "Hello", "gemini": "The capital of France is Paris.\n"}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
INSTRUCTIONS = "You are a coding agent running in the Codex CLI."
#: The tool of the recordings, declared the way Codex declares its tools.
WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "Current weather at a place",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"latitude": {"type": "string"}, "longitude": {"type": "string"}},
        "required": ["latitude", "longitude"],
        "additionalProperties": False,
    },
}


def config(protocol: str, upstream: Upstream) -> str:
    return f"""
backends:
  b:
    protocol: {protocol}
    base_url: {upstream.url}
    keys: [{{name: k1, secret: "sk-pool-{protocol}"}}]
routes:
  - match: {{host: api.openai.com}}
    backend: b
    model: backend-model
"""


def numbered(reply: Reply, n: int) -> Reply:
    """The recording with its message / response id made unique, so each turn has its own."""
    ids = re.compile(rb'("id":\s*"msg_|"responseId":\s*")([A-Za-z0-9_-]+)')
    body = reply.body if isinstance(reply.body, list) else [reply.body]
    out = [ids.sub(lambda m: m.group(1) + m.group(2)[:-3] + b"t%02d" % n, c) for c in body]
    return Reply(reply.status, reply.headers, out if isinstance(reply.body, list) else out[0])


def open_socket(proxy: Proxy) -> ClientConnection:
    """The socket Codex opens. Once in a few dozen runs on a loaded machine, the websockets
    client never sends its upgrade request after the TLS handshake through the proxy (the
    proxy's debug log shows the tunnel's TLS established and no byte after it, on the code
    before and after this project's layer changes alike): then it is opened again, once."""
    for attempt in (1, 2):
        try:
            return connect(
                "wss://api.openai.com/v1/responses",
                proxy=proxy.url,
                ssl=proxy.ssl_context(),
                additional_headers={
                    "Authorization": "Bearer sk-app-key",
                    "OpenAI-Beta": "responses_websockets=2026-02-06",
                    "originator": "codex_exec",
                    "session_id": "01a21cbb-0000-7000-8000-000000000001",
                    "version": "0.171.0",
                },
                open_timeout=8,
                max_size=None,
            )
        except TimeoutError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def codex_create(
    input: list[dict[str, Any]],
    *,
    previous: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    generate: bool | None = None,
) -> str:
    """A ``response.create`` as Codex 0.171 writes it."""
    message: dict[str, Any] = {
        "type": "response.create",
        "model": "gpt-5.1-codex",
        "stream": True,
        "input": input,
        "tools": tools or [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "01a21cbb-0000-7000-8000-000000000001",
        "client_metadata": {"session_id": "01a21cbb-0000-7000-8000-000000000001"},
    }
    if previous is not None:
        message["previous_response_id"] = previous
    if generate is not None:
        message["generate"] = generate
    return json.dumps(message)


def developer(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": text}],
    }


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def read_response(ws: Connection, timeout: float = 20) -> list[dict[str, Any]]:
    """The events of one response, up to its terminal event (or a request error)."""
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(ws.recv(timeout=timeout))
        events.append(event)
        if event["type"] in TERMINAL or (event["type"] == "error" and "status" in event):
            return events


def final(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] == "response.completed", events[-1]
    return dict(events[-1]["response"])


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def history(protocol: str, rec: Recorded) -> list[tuple[str, str]]:
    """The backend request's conversation as (role, what) pairs, in its own wire format."""
    body = rec.json()
    out: list[tuple[str, str]] = []
    if protocol == "anthropic":
        system = body.get("system")
        if system:
            text = system if isinstance(system, str) else "".join(b["text"] for b in system)
            out.append(("system", text))
        for msg in body["messages"]:
            for block in msg["content"]:
                if block["type"] == "text":
                    what = block["text"]
                elif block["type"] == "tool_use":
                    what = f"call {block['name']} {block['id']}"
                else:
                    what = f"result {block['tool_use_id']}"
                out.append((msg["role"], what))
    else:
        system = body.get("systemInstruction")
        if system:
            out.append(("system", "".join(p["text"] for p in system["parts"])))
        for content in body["contents"]:
            for part in content["parts"]:
                if "text" in part:
                    what = part["text"]
                elif "functionCall" in part:
                    what = f"call {part['functionCall']['name']}"
                else:
                    what = f"result {part['functionResponse']['name']}"
                out.append((content["role"], what))
    return out


def socket_flows(proxy: Proxy, sockets_expected: int = 1) -> tuple[list[Any], list[Any]]:
    """(the WebSocket flows, the POST /v1/responses turn flows) this proxy saved. A socket's
    flow is written when it closes, a moment after the client hung up: wait for it."""
    deadline = time.monotonic() + 10
    flows = proxy.flows()
    while (
        sum(getattr(f, "websocket", None) is not None for f in flows) < sockets_expected
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
        flows = proxy.flows()
    sockets = [f for f in flows if getattr(f, "websocket", None) is not None]
    turns = [
        f
        for f in flows
        if f.metadata.get("crosswire.original_url") == "POST https://api.openai.com/v1/responses"
    ]
    return sockets, turns


def wait_for(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---- a Codex-shaped client -----------------------------------------------------------------


@pytest.mark.parametrize("protocol", BACKENDS)
def test_warmup_then_two_turns_on_one_socket_continue_with_previous_response_id(
    start_proxy: Callable[..., Proxy], upstream: Upstream, protocol: str
) -> None:
    proxy = start_proxy(config(protocol, upstream))
    upstream.queue(
        numbered(reply_from_fixture(FIXTURES[protocol]["text"]), 1),
        numbered(reply_from_fixture(FIXTURES[protocol]["text"]), 2),
    )
    with open_socket(proxy) as ws:
        ws.send(codex_create([developer(INSTRUCTIONS)], generate=False))
        warm = read_response(ws)
        assert [e["type"] for e in warm] == [
            "response.created",
            "response.in_progress",
            "response.completed",
        ]
        assert upstream.requests == []  # a warm-up needs no backend call

        ws.send(codex_create([user("hi")], previous=final(warm)["id"]))
        first = read_response(ws)
        assert text_of(first) == TEXT[protocol]
        assert [e["type"] for e in first][:2] == ["response.created", "response.in_progress"]
        assert any(e["type"] == "response.output_item.done" for e in first)

        ws.send(codex_create([user("again")], previous=final(first)["id"]))
        second = read_response(ws)
        assert text_of(second) == TEXT[protocol]
        assert final(second)["id"] != final(first)["id"]

    one, two = upstream.requests
    assert history(protocol, one) == [("system", INSTRUCTIONS), ("user", "hi")]
    assert history(protocol, two) == [
        ("system", INSTRUCTIONS),
        ("user", "hi"),
        ("assistant" if protocol == "anthropic" else "model", TEXT[protocol]),
        ("user", "again"),
    ]
    assert "sk-pool-" + protocol in json.dumps(two.headers)  # the pooled key, not the app's
    assert "sk-app-key" not in json.dumps(two.headers)

    sockets, turns = socket_flows(proxy)
    assert len(sockets) == 1 and len(turns) == 2
    messages = sockets[0].websocket.messages
    sent = [json.loads(m.content)["type"] for m in messages if m.from_client]
    assert sent == ["response.create"] * 3
    assert "served by crosswire" in sockets[0].comment
    assert sockets[0].request.headers["authorization"] == "<redacted>"  # the stored socket flow
    assert all("sk-app-key" not in bytes(t.request.headers).decode() for t in turns)
    assert all(f"openai-responses → {protocol}" in t.comment for t in turns)


@pytest.mark.parametrize("protocol", BACKENDS)
def test_a_function_call_turn_then_its_output_turn(
    start_proxy: Callable[..., Proxy], upstream: Upstream, protocol: str
) -> None:
    proxy = start_proxy(config(protocol, upstream))
    upstream.queue(
        numbered(reply_from_fixture(FIXTURES[protocol]["tool"]), 1),
        numbered(reply_from_fixture(FIXTURES[protocol]["text"]), 2),
    )
    with open_socket(proxy) as ws:
        ws.send(codex_create([user("weather in Berlin?")], tools=[WEATHER]))
        first = read_response(ws)
        [call] = [
            e["item"]
            for e in first
            if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
        ]
        assert call["name"] == "weather"
        assert json.loads(call["arguments"]) == {"latitude": "52.5200", "longitude": "13.4050"}
        assert final(first)["output"][-1]["call_id"] == call["call_id"]

        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        ws.send(codex_create([output], previous=final(first)["id"], tools=[WEATHER]))
        second = read_response(ws)
        assert text_of(second) == TEXT[protocol]

    _, two = upstream.requests
    turns = history(protocol, two)
    if protocol == "anthropic":
        call_id = next(w.split()[-1] for r, w in turns if w.startswith("call "))
        assert turns == [
            ("user", "weather in Berlin?"),
            ("assistant", f"call weather {call_id}"),
            ("user", f"result {call_id}"),
        ]
        assert two.json()["tools"][0]["name"] == "weather"
    else:
        assert turns == [
            ("user", "weather in Berlin?"),
            ("model", "call weather"),
            ("user", "result weather"),
        ]
        assert two.json()["tools"][0]["functionDeclarations"][0]["name"] == "weather"


@pytest.mark.parametrize("protocol", BACKENDS)
def test_an_upstream_error_is_the_error_event_and_the_socket_goes_on(
    start_proxy: Callable[..., Proxy], upstream: Upstream, protocol: str
) -> None:
    proxy = start_proxy(config(protocol, upstream))
    error = reply_from_fixture(FIXTURES[protocol]["error"])
    upstream.queue(error, numbered(reply_from_fixture(FIXTURES[protocol]["text"]), 1))
    with open_socket(proxy) as ws:
        ws.send(codex_create([user("hi")]))
        [event] = read_response(ws)
        assert event["type"] == "error" and event["status"] == error.status
        assert event["error"]["message"] and event["error"]["type"]
        # the failed response cannot be continued …
        ws.send(codex_create([user("again")], previous="resp_unknown"))
        [missing] = read_response(ws)
        assert missing["status"] == 400
        assert missing["error"]["code"] == "previous_response_not_found"
        # … but the socket serves the next full request
        ws.send(codex_create([user("hi")]))
        assert text_of(read_response(ws)) == TEXT[protocol]
    assert len(upstream.requests) == 2


def test_a_refused_key_fails_over_to_the_next_before_the_first_event(
    start_proxy: Callable[..., Proxy], upstream: Upstream
) -> None:
    """Turns lease pooled keys like any HTTPS request: a 429 on one key is retried on the next
    before anything reaches the socket."""
    proxy = start_proxy(
        config("anthropic", upstream).replace(
            'keys: [{name: k1, secret: "sk-pool-anthropic"}]',
            'keys: [{name: k1, secret: "sk-pool-one"}, {name: k2, secret: "sk-pool-two"}]',
        )
    )
    busy = Reply(
        429,
        {"content-type": "application/json", "retry-after": "30"},
        b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
    )

    def answer(rec: Recorded) -> Reply:
        first = len(upstream.requests) == 1
        return busy if first else reply_from_fixture(FIXTURES["anthropic"]["text"])

    upstream.handler = answer
    with open_socket(proxy) as ws:
        ws.send(codex_create([user("hi")]))
        events = read_response(ws)
    assert text_of(events) == TEXT["anthropic"]
    assert not any(e["type"] == "error" for e in events)
    keys = [r.headers["x-api-key"] for r in upstream.requests]
    assert len(keys) == 2 and len(set(keys)) == 2


@pytest.mark.parametrize("protocol", BACKENDS)
def test_the_app_hanging_up_mid_stream_ends_the_turn_and_frees_the_key(
    start_proxy: Callable[..., Proxy], upstream: Upstream, protocol: str
) -> None:
    proxy = start_proxy(config(protocol, upstream))
    slow = reply_from_fixture(FIXTURES[protocol]["text"])
    assert isinstance(slow.body, list)
    slow.body = slow.body[:1] + [b": keep-alive\n\n"] * 40 + slow.body[1:]
    slow.delay = 0.25  # ~10 s in all: the app leaves long before the end
    upstream.queue(slow)
    started = time.monotonic()
    with open_socket(proxy) as ws:
        ws.send(codex_create([user("hi")]))
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "response.created"
        assert time.monotonic() - started < 5  # events are relayed as they come, not at the end
    with httpx.Client(proxy=proxy.url, timeout=5) as raw:

        def released() -> bool:
            [key] = raw.get("http://crosswire.local/keys").json()["keys"]
            return bool(key["in_flight"] == 0 and key["requests"] >= 1)

        wait_for(released)
    proxy.stop()
    _, [turn] = socket_flows(proxy)
    assert turn.error is not None or "failed" in turn.comment


def test_a_responses_backend_without_keys_is_still_passed_through(
    start_proxy: Callable[..., Proxy], upstream: Upstream
) -> None:
    """Passthrough to a real Responses backend stays as it was: the upgrade goes to it."""
    proxy = start_proxy(
        "backends:\n  oa: {protocol: openai-responses, base_url: '" + upstream.url + "/v1'}\n"
        "routes:\n  - match: {host: api.openai.com}\n    backend: oa\n"
    )
    upstream.queue(Reply(404, {"content-type": "application/json"}, b'{"error":"no ws here"}'))
    with pytest.raises(Exception):  # noqa: B017 - the loopback upstream does not speak WebSocket
        open_socket(proxy).close()
    assert upstream.requests and upstream.requests[0].path == "/v1/responses"
    assert upstream.requests[0].headers.get("upgrade", "").lower() == "websocket"


# ---- the real Codex CLI --------------------------------------------------------------------

CODEX = ("@openai/codex", "0.171.0")


def codex_binary() -> Path:
    """Codex from the shared apps cache, installed there (pinned) when missing."""
    if not shutil.which("npm"):
        pytest.skip("npm is not installed")
    apps = Path(os.environ.get("CROSSWIRE_APPS_DIR") or Path.home() / ".cache" / "crosswire-apps")
    prefix = apps / f"openai_codex-{CODEX[1]}"
    exe = prefix / "node_modules" / ".bin" / "codex"
    if not exe.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        try:
            out = subprocess.run(
                ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                 "--no-save", "--loglevel=error", f"{CODEX[0]}@{CODEX[1]}"],
                capture_output=True,
                timeout=600,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install {CODEX[0]}@{CODEX[1]} timed out")
        if out.returncode != 0 or not exe.exists():
            tail = out.stderr.decode(errors="replace")[-300:]
            pytest.skip(f"npm install {CODEX[0]}@{CODEX[1]} failed: {tail}")
        (prefix / "ok").write_text("installed by test_responses_websocket\n")
    return exe


class CodexModel:
    """A backend model for Codex: calls ``exec_command`` to read a file, then answers with the
    word it read. Answers are the recordings with the tool name, arguments and text replaced."""

    def __init__(self, protocol: str, path: Path, word: str) -> None:
        self.protocol = protocol
        self.command = f"cat {path}"
        self.word = word
        self.answer = f"The word is {word}."
        self.seen: list[str] = []

    def __call__(self, rec: Recorded) -> Reply:
        body = rec.body.decode(errors="replace")
        if self.word in body:  # the tool result came back
            self.seen.append("final")
            return self._text()
        self.seen.append("call")
        return self._call()

    def _call(self) -> Reply:
        reply = reply_from_fixture(FIXTURES[self.protocol]["tool"])
        assert isinstance(reply.body, list)
        args = json.dumps({"cmd": self.command})
        if self.protocol == "anthropic":
            chunks = [c for c in reply.body if b"input_json_delta" not in c]
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": args},
            }
            at = next(i for i, c in enumerate(chunks) if b"content_block_stop" in c)
            chunks.insert(
                at, b"event: content_block_delta\ndata: %s\n\n" % json.dumps(delta).encode()
            )
            reply.body = [c.replace(b'"name":"weather"', b'"name":"exec_command"') for c in chunks]
        else:
            old = rb'"functionCall": {"name": "weather","args": {"latitude": "52.5200","longitude": "13.4050"}}'
            new = json.dumps(
                {"functionCall": {"name": "exec_command", "args": {"cmd": self.command}}}
            )
            reply.body = [c.replace(old, new[1:-1].encode()) for c in reply.body]
        return reply

    def _text(self) -> Reply:
        reply = reply_from_fixture(FIXTURES[self.protocol]["text"])
        assert isinstance(reply.body, list)
        first, rest = json.dumps(self.answer).encode(), json.dumps("").encode()
        texts = (
            [b'"Hello"']
            if self.protocol == "anthropic"
            else [b'"The"', b'" capital of France"', b'" is Paris.\\n"']
        )
        out = []
        for chunk in reply.body:
            for n, old in enumerate(texts):
                chunk = chunk.replace(b'"text": ' + old, b'"text": ' + (first if n == 0 else rest))
                chunk = chunk.replace(b'"text":' + old, b'"text":' + (first if n == 0 else rest))
            out.append(chunk)
        reply.body = out
        return reply


@pytest.mark.parametrize("protocol", BACKENDS)
def test_codex_cli_prompt_and_tool_round_trip_over_the_websocket(
    start_proxy: Callable[..., Proxy],
    upstream: Upstream,
    confdir: Path,
    tmp_path: Path,
    protocol: str,
) -> None:
    codex = codex_binary()
    proxy = start_proxy(config(protocol, upstream))
    secret = tmp_path / "secret.txt"
    secret.write_text("pelican-42\n")
    model = CodexModel(protocol, secret, "pelican-42")
    upstream.handler = model
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "OPENAI_API_KEY": "sk-app-key",
        "MITMPROXY_CONFDIR": str(confdir),
    }
    out = subprocess.run(
        [
            str(VENV_BIN / "crosswire"), "exec", "-c", str(proxy.config_path),
            "--listen", f"127.0.0.1:{proxy.port}", "--",
            str(codex), "exec", "-m", "gpt-5.1-codex", "--skip-git-repo-check",
            "-s", "danger-full-access", "-C", str(tmp_path),
            f"Read the file {secret} and tell me the word in it.",
        ],
        env=env,
        capture_output=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    stdout = out.stdout.decode(errors="replace")
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    assert model.answer in stdout
    assert model.seen == ["call", "final"], model.seen
    proxy.stop()
    sockets, turns = socket_flows(proxy)
    assert len(sockets) >= 1
    creates = [
        json.loads(m.content)
        for s in sockets
        for m in s.websocket.messages
        if m.from_client and json.loads(m.content).get("type") == "response.create"
    ]
    generating = [c for c in creates if c.get("generate") is not False]
    # Every POST /v1/responses was a turn of the socket: Codex never fell back to HTTPS.
    assert len(turns) == len(generating) == 2
    outputs = [i for c in generating for i in c["input"] if i.get("type") == "function_call_output"]
    assert outputs and "pelican-42" in json.dumps(outputs)
    assert all(c.get("previous_response_id") for c in generating)
