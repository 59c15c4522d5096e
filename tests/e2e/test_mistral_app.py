"""An app on the real mistralai SDK, through crosswire, against non-Mistral backends.

The SDK validates every streamed chunk with its own models: a tool call must arrive whole
(``function.name`` on it), so these tests are the proof that Mistral Vibe-style apps can use
tools whatever the backend. Upstreams are loopback servers answering from recordings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import Proxy, Reply, Upstream, reply_from_fixture

pytestmark = pytest.mark.e2e

BACKENDS = {
    "anthropic": ("anthropic", ""),
    "responses": ("openai-responses", "/v1"),
    "completions": ("openai-completions", "/v1"),
    "chat": ("openai-chat", "/v1"),
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
COMPLETION_TEXT = [
    b'data: {"id":"c1","object":"text_completion","created":1,"model":"coder","choices":[{"text":"return a","index":0,"logprobs":null,"finish_reason":null}]}\n\n',
    b'data: {"id":"c1","object":"text_completion","created":1,"model":"coder","choices":[{"text":" + b","index":0,"logprobs":null,"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c1","object":"text_completion","created":1,"model":"coder","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}\n\n',
    b"data: [DONE]\n\n",
]
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Upstream]]:
    upstream = Upstream()
    backends = "".join(
        f"  b-{name}:\n    protocol: {protocol}\n    base_url: {upstream.url}{base}\n"
        f'    keys: [{{name: k, secret: "sk-mistral-e2e-{name}"}}]\n'
        for name, (protocol, base) in BACKENDS.items()
    )
    routes = "".join(
        f'  - match: {{model: "to-{name}*"}}\n    backend: b-{name}\n    model: real-{name}\n'
        for name in BACKENDS
    )
    workdir = tmp_path_factory.mktemp("mistral")
    confdir = tmp_path_factory.mktemp("mistralconf")
    proxy = Proxy(f"backends:\n{backends}routes:\n{routes}", workdir, confdir)
    yield proxy, upstream
    proxy.stop()
    upstream.close()


def mistral_client(proxy: Proxy) -> Any:
    """The SDK exactly as an app builds it, its HTTP client pointed at the proxy."""
    import httpx2
    from mistralai.client import Mistral

    http = httpx2.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=30)
    return Mistral(api_key="mistral-app-key", client=http)


def _stream_tool_call(proxy: Proxy, model: str) -> tuple[list[Any], str | None]:
    client = mistral_client(proxy)
    calls: list[Any] = []
    finish = None
    messages = [{"role": "user", "content": "Weather in Berlin?"}]
    with client.chat.stream(model=model, messages=messages, tools=TOOLS) as events:
        for event in events:
            choice = event.data.choices[0]
            calls += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    return calls, finish


@pytest.mark.parametrize(
    ("backend", "fixture", "name", "arguments"),
    [
        (
            "anthropic",
            "anthropic/stream_tool_use_input_json_delta.json",
            "weather",
            {"latitude": "52.5200", "longitude": "13.4050"},
        ),
        (
            "responses",
            "openai_responses/stream_function_call.json",
            "get_capital",
            {"country": "France"},
        ),
    ],
)
def test_streamed_tool_call_is_parsed_by_the_sdk(
    setup: tuple[Proxy, Upstream], backend: str, fixture: str, name: str, arguments: dict[str, Any]
) -> None:
    proxy, upstream = setup
    upstream.queue(reply_from_fixture(fixture))
    calls, finish = _stream_tool_call(proxy, f"to-{backend}")
    assert len(calls) == 1
    assert calls[0].function.name == name and calls[0].id
    assert json.loads(calls[0].function.arguments) == arguments
    assert finish == "tool_calls"


@pytest.mark.parametrize(
    ("backend", "fixture"),
    [
        ("anthropic", "anthropic/nonstream_text_basic.json"),
        ("responses", "openai_responses/nonstream_text_basic.json"),
    ],
)
def test_complete_returns_the_answer(
    setup: tuple[Proxy, Upstream], backend: str, fixture: str
) -> None:
    proxy, upstream = setup
    upstream.queue(reply_from_fixture(fixture))
    out = mistral_client(proxy).chat.complete(
        model=f"to-{backend}", messages=[{"role": "user", "content": "hi"}]
    )
    assert isinstance(out.choices[0].message.content, str) and out.choices[0].message.content
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.prompt_tokens > 0


def test_a_rate_limit_reaches_the_sdk_as_its_own_error(setup: tuple[Proxy, Upstream]) -> None:
    from mistralai.client.errors import SDKError

    proxy, upstream = setup
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}'
    upstream.handler = lambda rec: Reply(429, {**JSON, "retry-after": "1"}, body)
    try:
        with pytest.raises(SDKError) as caught:
            mistral_client(proxy).chat.complete(
                model="to-anthropic", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        upstream.handler = None
    assert caught.value.status_code == 429
    assert json.loads(caught.value.body)["type"] == "rate_limited"


def test_fim_complete_and_stream_on_a_completions_backend(setup: tuple[Proxy, Upstream]) -> None:
    proxy, upstream = setup
    client = mistral_client(proxy)
    whole = json.dumps(
        {
            "id": "c0",
            "object": "text_completion",
            "created": 1,
            "model": "coder",
            "choices": [
                {"text": "return a + b", "index": 0, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
        }
    ).encode()
    upstream.queue(Reply(200, JSON, whole), Reply(200, SSE, list(COMPLETION_TEXT)))
    kw: dict[str, Any] = {
        "model": "to-completions",
        "prompt": "def add(a, b):\n    ",
        "suffix": "\n",
    }
    out = client.fim.complete(**kw)
    assert out.choices[0].message.content == "return a + b"
    with client.fim.stream(**kw) as events:
        text = "".join(str(e.data.choices[0].delta.content or "") for e in events if e.data.choices)
    assert text == "return a + b"
    sent = [json.loads(r.body) for r in upstream.requests[-2:]]
    assert all(s["prompt"] == kw["prompt"] and s["suffix"] == "\n" for s in sent)


def test_fim_on_a_chat_backend(setup: tuple[Proxy, Upstream]) -> None:
    proxy, upstream = setup
    upstream.queue(reply_from_fixture("openai_chat/stream_text_no_usage.json"))
    with mistral_client(proxy).fim.stream(model="to-chat", prompt="x = ", suffix="\n") as events:
        text = "".join(str(e.data.choices[0].delta.content or "") for e in events if e.data.choices)
    assert text
    assert "messages" in json.loads(upstream.requests[-1].body)
