"""OpenAI Chat ⇄ Anthropic through a real crosswire, driven by the official SDKs both ways.

Upstreams answer with real recorded exchanges (tests/fixtures) in the backend's wire format.
"""

from __future__ import annotations

import base64
import json

import anthropic
import httpx
import openai
import pytest

from tests.e2e.harness import Reply, Upstream, anthropic_client, openai_client, reply_from_fixture

pytestmark = pytest.mark.e2e

ENV = {"K1": "sk-secret-key-number-one", "K2": "sk-secret-key-number-two"}
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


def cfg(
    upstream: Upstream, *, backend: str, host: str, base: str, keys: int = 1, extra: str = ""
) -> str:
    key_lines = "".join(
        f'      - {{name: k{i}, secret: "${{K{i}}}"}}\n' for i in range(1, keys + 1)
    )
    return f"""
backends:
  up:
    protocol: {backend}
    base_url: {upstream.url}{base}
    keys:
{key_lines}{extra}routes:
  - match: {{host: {host}}}
    backend: up
"""


def to_anthropic(upstream: Upstream, **kw: object) -> str:
    return cfg(upstream, backend="anthropic", host="api.openai.com", base="", **kw)  # type: ignore[arg-type]


def to_openai(upstream: Upstream, **kw: object) -> str:
    return cfg(upstream, backend="openai-chat", host="api.anthropic.com", base="/v1", **kw)  # type: ignore[arg-type]


# ---- OpenAI SDK app → Anthropic backend ---------------------------------------------------


def test_openai_app_on_anthropic_whole(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/nonstream_text_basic.json"))
    client = openai_client(proxy)
    out = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    )
    assert out.choices[0].message.content
    assert out.choices[0].finish_reason == "stop"
    assert out.usage is not None and out.usage.prompt_tokens > 0
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    body = sent.json()
    assert body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert body["max_tokens"] > 0  # required by Anthropic, invented
    assert sent.headers["x-api-key"] == ENV["K1"]
    assert "authorization" not in sent.headers


def test_openai_app_on_anthropic_stream_with_usage(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/stream_text_basic.json"))
    client = openai_client(proxy)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]


def test_openai_app_on_anthropic_tool_round_trip(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(
        reply_from_fixture("anthropic/nonstream_parallel_tool_use.json"),
        reply_from_fixture("anthropic/nonstream_after_parallel_tool_results.json"),
    )
    client = openai_client(proxy)
    tools = [
        {
            "type": "function",
            "function": {
                "name": n,
                "description": "d",
                "parameters": {
                    "type": "object",
                    "properties": {"latitude": {"type": "string"}, "longitude": {"type": "string"}},
                },
            },
        }
        for n in ("weather", "best_language_to_learn", "weather_in_city", "get_weather")
    ]
    first = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "go"}], tools=tools
    )
    calls = first.choices[0].message.tool_calls
    assert calls and first.choices[0].finish_reason == "tool_calls"
    messages = [
        {"role": "user", "content": "go"},
        first.choices[0].message.model_dump(exclude_none=True),
    ]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    assert second.choices[0].message.content
    body = upstream.requests[-1].json()
    results = [
        b
        for m in body["messages"]
        if m["role"] == "user"
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert [r["tool_use_id"] for r in results] == [c.id for c in calls]
    assert len([m for m in body["messages"] if m["role"] == "user"]) == 2, (
        "all results in one user turn"
    )


def test_openai_app_image_reaches_anthropic_as_image_block(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/nonstream_image_input.json"))
    client = openai_client(proxy)
    client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
                ],
            }
        ],
    )
    blocks = upstream.requests[-1].json()["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"  # declared jpg, the bytes are PNG
    assert image["source"]["data"] == PNG


def test_openai_app_sees_anthropic_thinking_as_reasoning_content(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/stream_thinking_signature_delta.json"))
    client = openai_client(proxy)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "think"}],
            stream=True,
            reasoning_effort="low",
        )
    )
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert reasoning
    sent = upstream.requests[-1].json()
    assert sent["thinking"]["type"] in ("enabled", "adaptive")


def test_upstream_429_reaches_openai_app_as_rate_limit_error(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(
        Reply(
            429,
            {"content-type": "application/json", "retry-after": "7"},
            b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
        )
    )
    client = openai_client(proxy)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "slow down" in str(err.value)
    assert err.value.response.headers.get("retry-after") == "7"


def test_upstream_529_overloaded_keeps_a_retryable_status(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(
        Reply(
            529,
            {"content-type": "application/json"},
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        )
    )
    client = openai_client(proxy)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code in (503, 529)


def test_mid_stream_error_ends_the_openai_stream_with_an_error(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    body = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n',
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    ]
    upstream.queue(Reply(200, {"content-type": "text/event-stream"}, body))
    client = openai_client(proxy)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            got.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "Hel"


def test_malformed_json_is_a_400_in_the_apps_shape_and_nothing_goes_upstream(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context()) as client:
        r = client.post(
            "https://api.openai.com/v1/chat/completions",
            content=b'{"model": "x", "messages": [',
            headers={"content-type": "application/json"},
        )
        r2 = client.post(
            "https://api.openai.com/v1/chat/completions", json={"model": "x", "messages": "nope"}
        )
    assert r.status_code == 400 and "error" in r.json() and r.json()["error"]["message"]
    assert r2.status_code == 400 and "messages" in r2.json()["error"]["message"]
    assert upstream.requests == []


def test_dropped_fields_are_named_in_a_header(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/nonstream_text_basic.json"))
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context()) as client:
        r = client.post(
            "https://api.openai.com/v1/chat/completions",
            json={
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "x"}],
                "seed": 7,
                "frequency_penalty": 0.5,
            },
        )
    assert r.status_code == 200
    dropped = r.headers.get("x-crosswire-dropped", "")
    assert "seed" in dropped and "frequency_penalty" in dropped


# ---- Anthropic SDK app → OpenAI-compatible backend ------------------------------------------


def test_anthropic_app_on_openai_whole_tool_call(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream), env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    client = anthropic_client(proxy)
    msg = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=32000,
        system="sys",
        timeout=30,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[
            {
                "name": "get_weather",
                "description": "d",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
            }
        ],
    )
    assert msg.stop_reason == "tool_use"
    tool = next(b for b in msg.content if b.type == "tool_use")
    assert isinstance(tool.input, dict)
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {ENV['K1']}"
    body = sent.json()
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_anthropic_app_on_openai_stream_parallel_tools(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream), env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/stream_parallel_tool_calls.json"))
    client = anthropic_client(proxy)
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1000, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert events[0].type == "message_start"
    assert final.stop_reason == "tool_use"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) >= 2 and all(isinstance(u.input, dict) for u in uses)
    assert final.usage.input_tokens > 0, (
        "message_start input tokens are never 0 (estimate when unknown)"
    )


def test_anthropic_app_upstream_error_shapes(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream), env=ENV)
    upstream.queue(
        reply_from_fixture("openai_chat/error_404_model_not_found.json"),
        Reply(
            401,
            {"content-type": "application/json"},
            b'{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}',
        ),
    )
    client = anthropic_client(proxy)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="x", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(
            model="x", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )


def test_count_tokens_and_models_answered_locally(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream), env=ENV)
    client = anthropic_client(proxy)
    count = client.messages.count_tokens(
        model="claude-sonnet-4-6",
        system="You are terse." * 50,
        messages=[{"role": "user", "content": "hello world " * 100}],
    )
    assert count.input_tokens > 300
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context()) as raw:
        r = raw.get(
            "https://api.anthropic.com/v1/models", headers={"anthropic-version": "2023-06-01"}
        )
    assert r.status_code == 200 and "data" in r.json()
    assert upstream.requests == []


def test_claude_code_style_max_tokens_is_clamped(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream, extra="    max_output_tokens: 8192\n"), env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    client = anthropic_client(proxy)
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=32000,
        timeout=30,
        messages=[{"role": "user", "content": "x"}],
    )
    body = upstream.requests[-1].json()
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == 8192


def test_converted_flow_is_annotated_and_secret_free(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_anthropic(upstream), env=ENV)
    upstream.queue(reply_from_fixture("anthropic/nonstream_text_basic.json"))
    openai_client(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    proxy.stop()
    [flow] = proxy.flows()
    assert flow.comment.startswith("openai-chat → anthropic · route 1 · backend up · key k1")
    assert flow.metadata["crosswire"]["mode"] == "convert"
    blob = proxy.flows_path.read_bytes() + proxy.log().encode()
    assert ENV["K1"].encode() not in blob
    assert json.loads(flow.metadata["crosswire.original_request"])["model"] == "gpt-4o"


def test_anthropic_app_image_reaches_openai_as_a_data_url(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(to_openai(upstream), env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/nonstream_image_data_url_input.json"))
    anthropic_client(proxy).messages.create(
        model="claude",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "text", "text": "what is this"},
                ],
            }
        ],
    )
    parts = upstream.requests[-1].json()["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


def test_reasoning_from_an_openai_compatible_server_is_a_thinking_block(
    start_proxy, upstream: Upstream
) -> None:
    """DeepSeek/vLLM/Ollama `reasoning` deltas become Anthropic thinking (edge 67 in
    docs/edge-cases.md)."""
    proxy = start_proxy(to_openai(upstream), env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/stream_ollama_compat_reasoning_tool_call.json"))
    with anthropic_client(proxy).messages.stream(
        model="claude", max_tokens=500, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking" and "tool_use" in kinds and final.stop_reason == "tool_use"
    assert final.content[0].thinking
