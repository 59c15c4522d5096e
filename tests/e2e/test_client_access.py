"""Client tokens are crosswire credentials: they never reach a provider, and their quotas hold.

Every routing mode is tried with a client token — pooled conversion, pooled passthrough, the
app's own key (client_auth), an unmodelled endpoint, Gemini's ``?key=`` — and every request the
upstreams received is scanned for it. Quotas count requests and tokens per client, shared by
two instances on one real redis-server.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.e2e.harness import (
    Proxy,
    Reply,
    Upstream,
    anthropic_client,
    genai_client,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

TOKEN = "cw-client-token-NEVER-UPSTREAM"
ENV = {"CT": TOKEN, "KA": "sk-ant-pool-key-A", "KB": "sk-ant-pool-key-B"}


def config(up: Upstream, own: Upstream, extra: str = "") -> str:
    return f"""
backends:
  pooled:
    protocol: anthropic
    base_url: {up.url}
    keys:
      - {{name: a, secret: "${{KA}}"}}
      - {{name: b, secret: "${{KB}}"}}
  own-openai:
    protocol: auto
    base_url: {own.url}/v1
    client_auth: true
  own-gemini:
    protocol: auto
    base_url: {own.url}
    client_auth: true
routes:
  - match: {{host: api.openai.com, path: "/v1/chat/*"}}
    backend: pooled
  - match: {{host: api.anthropic.com}}
    backend: pooled
  - match: {{host: api.openai.com}}
    backend: own-openai
  - match: {{host: generativelanguage.googleapis.com}}
    backend: own-gemini
clients:
  - {{name: app, token: "${{CT}}"}}
{extra}"""


def proxied(proxy: Proxy, user: str = "app") -> str:
    return proxy.url.replace("http://", f"http://{user}:{TOKEN}@")


def scan(*ups: Upstream) -> None:
    for up in ups:
        for rec in up.requests:
            seen = rec.path + json.dumps(rec.headers) + rec.body.decode("utf-8", "replace")
            assert TOKEN not in seen, f"client token reached an upstream: {rec.path}"


def test_a_client_token_never_reaches_any_upstream_in_any_mode(
    start_proxy, upstream: Upstream, upstream2: Upstream
) -> None:
    proxy = start_proxy(config(upstream, upstream2), env=ENV)
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")
    upstream2.handler = lambda rec: (
        reply_from_fixture("gemini/nonstream_text_basic.json")
        if "generateContent" in rec.path
        else Reply(200, {"content-type": "application/json"}, b'{"object":"list","data":[]}')
    )
    # Pooled, converting: the token as the app's API key.
    chat = openai_client(proxy, api_key=TOKEN).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content
    # Pooled, same protocol (Bearer, as the 2026 Anthropic SDKs may send it).
    msg = anthropic_client(proxy, api_key=None, auth_token=TOKEN).messages.create(
        model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content
    assert {r.headers.get("x-api-key") for r in upstream.requests} <= {ENV["KA"], ENV["KB"]}
    # The app's own key (client_auth) cannot be forwarded when the app's key IS the token.
    token_as_key = openai_client(proxy, api_key=TOKEN)
    with pytest.raises(openai.AuthenticationError, match="proxy credentials"):
        token_as_key.embeddings.create(model="e", input="x")
    gemini = genai_client(proxy, api_key=TOKEN)
    with pytest.raises(Exception, match="proxy credentials"):
        gemini.models.generate_content(model="g", contents="hi")
    # …but works with the token as proxy credentials: then the app's own key goes upstream.
    own = openai.OpenAI(
        api_key="sk-the-apps-own-openai-key",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(proxy=proxied(proxy), verify=proxy.ssl_context()),
    )
    own.embeddings.with_raw_response.create(model="e", input="x")
    assert (
        upstream2.requests[-1].headers.get("authorization") == "Bearer sk-the-apps-own-openai-key"
    )
    with httpx.Client(proxy=proxied(proxy), verify=proxy.ssl_context(), timeout=10) as c:
        r = c.post(
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent?key=gem-own-key",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
    assert r.status_code == 200, r.text
    assert "gem-own-key" in upstream2.requests[-1].path + json.dumps(upstream2.requests[-1].headers)
    scan(upstream, upstream2)
    # Nor is it kept with the flows.
    assert TOKEN not in proxy.log()
    # Quotas in memory: admission is done with the routing, inside mitmproxy's HTTP layer.
    assert "routed requests are routed in mitmproxy's HTTP layer" in proxy.log()


def test_quotas_count_requests_and_tokens_across_two_instances(
    start_proxy, upstream: Upstream, upstream2: Upstream, redis_url: str
) -> None:
    extra = f"""  - {{name: few, token: "few-requests-token", max_requests: 3}}
  - {{name: thrifty, token: "thrifty-token", max_tokens: 30}}
state: {redis_url}
"""
    text = config(upstream, upstream2, extra)
    one = start_proxy(text, env=ENV)
    two = start_proxy(text, env=ENV)
    # Each answer costs 29 tokens (16 in, 13 out): the second one spends the 30.
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")

    def ask(proxy: Proxy, token: str) -> None:
        anthropic_client(proxy, api_key=token).messages.create(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )

    ask(one, "few-requests-token")
    ask(two, "few-requests-token")
    ask(one, "few-requests-token")
    for proxy in (one, two):
        with pytest.raises(anthropic.RateLimitError, match="used its 3 requests"):
            ask(proxy, "few-requests-token")
    ask(two, "thrifty-token")
    ask(one, "thrifty-token")
    with pytest.raises(openai.RateLimitError, match="used its 30 tokens"):
        openai_client(two, api_key="thrifty-token").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    # Quotas in Redis are a round trip: admission takes the request hook.
    assert "request hook (ClientAccess acts on them)" in one.log()
