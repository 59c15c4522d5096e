"""Builders for in-process engine tests: configs, flows, upstream answers, a mock upstream.

The engine is driven the way mitmproxy drives it — hook by hook on ``tflow`` flows — with the
upstream's answer set on the flow by the test (what mitmproxy would have received) and, for
the in-process failover client, an ``httpx.MockTransport`` that records every request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from crosswire import config
from crosswire.engine.dispatch import Engine
from crosswire.engine.runtime import Runtime

#: Pool secrets (never expected in anything shown) and the app's own key.
SECRETS = {
    "K1": "sk-pool-one-0123456789abcdef",
    "K2": "sk-pool-two-0123456789abcdef",
    "K3": "sk-pool-three-0123456789abcdef",
    "TOKEN_CI": "cw-token-ci-0123456789",
    "TOKEN_DEV": "cw-token-dev-0123456789",
}
APP_KEY = "sk-app-own-key-0123456789"
UP = "http://up.test"


async def run_hook(result: Awaitable[None] | None) -> None:
    """What mitmproxy does with a hook's return value: awaits it when it is awaitable (the
    addons' hooks that rarely wait return a coroutine only then)."""
    if result is not None:
        await result


def backend(protocol: str, *keys: str, base: str = UP, **kw: Any) -> dict[str, Any]:
    """A backend config; ``keys`` name variables of ``SECRETS`` (key name = lower-case var)."""
    out: dict[str, Any] = {"protocol": protocol, "base_url": base, **kw}
    if keys:
        out["keys"] = [{"name": k.lower(), "secret": f"${{{k}}}"} for k in keys]
    return out


def make_config(
    backends: Mapping[str, Mapping[str, Any]],
    routes: Iterable[Mapping[str, Any]],
    **file: Any,
) -> config.Config:
    data = {"backends": dict(backends), "routes": list(routes), **file}
    return config.parse(yaml.safe_dump(data), env=SECRETS)


def make_flow(
    method: str,
    host: str,
    path: str,
    body: bytes | Mapping[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
    *,
    client_conn: Any = None,
) -> http.HTTPFlow:
    """A live flow as the ``request`` hook sees it: HTTPS to ``host``, the given request."""
    content = json.dumps(body).encode() if isinstance(body, Mapping) else (body or b"")
    hdrs = [("host", host), *headers]
    if content:
        hdrs.append(("content-length", str(len(content))))
    req = tutils.treq(
        method=method.encode(),
        scheme=b"https",
        host=host,
        port=443,
        authority=b"",
        path=path.encode(),
        headers=http.Headers([(k.encode(), v.encode()) for k, v in hdrs]),
        content=content,
    )
    if client_conn is not None:
        return tflow.tflow(req=req, client_conn=client_conn)
    return tflow.tflow(req=req)


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **extra}


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def respond(
    flow: http.HTTPFlow, status: int, body: bytes | Mapping[str, Any], **headers: str
) -> None:
    """What mitmproxy received from the upstream (headers and, for whole answers, the body)."""
    content = json.dumps(body).encode() if isinstance(body, Mapping) else body
    hdrs = {
        "content-type": "application/json",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    flow.response = http.Response.make(status, content, hdrs)


def sse_response(flow: http.HTTPFlow, content_type: str = "text/event-stream") -> None:
    """A stream's headers (its body arrives through the stream callable)."""
    flow.response = http.Response.make(200, b"", {"content-type": content_type})
    flow.response.headers["transfer-encoding"] = "chunked"
    del flow.response.headers["content-length"]


def feed(
    flow: http.HTTPFlow, chunks: Iterable[bytes], *, end: bool = True
) -> list[bytes | list[bytes]]:
    """Push a body through the response's stream callable as mitmproxy does: each chunk, then
    ``b""`` at the end (not when ``end`` is False: the connection broke). Returns what the
    callable gave back for each call."""
    resp = flow.response
    assert resp is not None
    stream = resp.stream
    assert callable(stream), "no stream callable installed"
    return [stream(c) for c in [*chunks, *([b""] if end else [])]]


def joined(outs: Iterable[bytes | list[bytes]]) -> bytes:
    return b"".join(o if isinstance(o, bytes) else b"".join(o) for o in outs)


def sse_data(body: bytes) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON-decoded (``[DONE]`` kept as the string)."""
    out: list[Any] = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [ln[5:].strip() for ln in block.split(b"\n") if ln.startswith(b"data:")]
        if data:
            raw = b"\n".join(data)
            out.append("[DONE]" if raw == b"[DONE]" else json.loads(raw))
    return out


# ---- upstream answers in each backend's wire format ----------------------------------------


def anthropic_message(text: str = "Hello", model: str = "claude-x") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }


def anthropic_sse(text: str = "Hello", model: str = "claude-x") -> list[bytes]:
    """An Anthropic stream, one event per chunk."""
    head = anthropic_message(model=model) | {"content": [], "stop_reason": None}
    head["usage"] = {"input_tokens": 5, "output_tokens": 1}
    block = {"index": 0, "content_block": {"type": "text", "text": ""}}
    delta = {"index": 0, "delta": {"type": "text_delta", "text": text}}
    end = {
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": head}),
        ("content_block_start", block),
        ("ping", {}),
        ("content_block_delta", delta),
        ("content_block_stop", {"index": 0}),
        ("message_delta", end),
        ("message_stop", {}),
    ]
    return [
        f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()
        for name, data in events
    ]


def anthropic_overloaded_sse(message: str = "busy") -> list[bytes]:
    """The start of an Anthropic stream, then an overloaded ``event: error``."""
    error = anthropic_error(message, "overloaded_error")
    return [*anthropic_sse()[:2], f"event: error\ndata: {json.dumps(error)}\n\n".encode()]


def chat_completion(text: str = "Hello", model: str = "gpt-4o-2024") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def chat_sse(text: str = "Hello", model: str = "gpt-4o-2024") -> list[bytes]:
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}},
    ]  # fmt: skip
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def openai_error(message: str, etype: str = "rate_limit_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}


def anthropic_error(message: str, etype: str = "rate_limit_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message}}


# ---- the in-process upstream client ----------------------------------------------------------


@dataclass
class Upstream:
    """Answers the failover client's requests in order (or all with ``default``); records each
    request. An ``Exception`` in the script is raised (``httpx.ConnectError``: unreachable)."""

    script: list[httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=list
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.script:
            return httpx.Response(500, json={"error": {"message": "nothing scripted"}})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(request)
        return step

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def streamed(chunks: list[bytes], content_type: str = "text/event-stream") -> httpx.Response:
    """An upstream answer whose body arrives chunk by chunk (not read in advance)."""
    return httpx.Response(200, headers={"content-type": content_type}, stream=_Chunks(chunks))


def install_upstream(rt: Runtime, upstream: Upstream) -> None:
    """Point the runtime's shared upstream client (failover, relay, probes) at ``upstream``."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    rt.client = client
    rt.keeper.client = client


def new_engine(cfg: config.Config, upstream: Upstream | None = None) -> Engine:
    rt = Runtime(cfg)
    rt.keep_copies = True
    install_upstream(rt, upstream or Upstream())
    return Engine(rt)


async def in_flight(rt: Runtime) -> dict[str, int]:
    return {f"{s.backend}/{s.name}": s.in_flight for s in await rt.pool.snapshot()}
