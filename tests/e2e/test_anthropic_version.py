"""anthropic-version 2026-10-21 through a real crosswire (docs/anthropic-version.md).

Apps converted to an Anthropic backend get the current version and no sampling parameters
(named in ``x-crosswire-dropped``) unless the backend pins 2023-06-01; Anthropic apps on the
2.x SDK authenticate with ``Authorization: Bearer`` in every mode; a same-protocol request keeps
the app's own ``anthropic-version``.
"""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.e2e.harness import (
    Proxy,
    Upstream,
    anthropic_client,
    genai_client,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

ENV = {"K1": "sk-ant-pool-key-number-one", "CLIENT_TOKEN": "cw-client-token-abcdef"}
SAMPLING = ("temperature", "top_p", "top_k")
TEXT = "anthropic/nonstream_text_basic.json"


def config(
    upstream: Upstream, *, pin: str | None = None, keys: bool = True, extra: str = ""
) -> str:
    lines = [
        "backends:",
        "  claude:",
        "    protocol: anthropic",
        f"    base_url: {upstream.url}",
    ]
    if pin:
        lines.append(f'    anthropic_version: "{pin}"')
    lines += ['    keys: [{name: k1, secret: "${K1}"}]'] if keys else ["    client_auth: true"]
    lines += ["routes:"]
    for host in ("api.openai.com", "generativelanguage.googleapis.com", "api.anthropic.com"):
        lines += [f"  - match: {{host: {host}}}", "    backend: claude"]
    return "\n".join(lines) + "\n" + extra


def dropped(header: str | None) -> set[str]:
    return {f.strip() for f in (header or "").split(",") if f.strip()}


def openai_app_with_sampling(proxy: Proxy) -> tuple[str, dict[str, str]]:
    """An OpenAI SDK app that sets temperature and top_p; (answer text, response headers)."""
    raw = openai_client(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        top_p=0.9,
    )
    out = raw.parse()
    return out.choices[0].message.content or "", dict(raw.headers)


def gemini_app_with_sampling(proxy: Proxy) -> tuple[str, dict[str, str]]:
    """Gemini CLI's shape: temperature 1 and topP/topK with a thinking budget."""
    from google.genai import types

    client = genai_client(proxy)  # kept: a collected client closes its connection
    out = client.models.generate_content(
        model="gemini-2.5-pro",
        contents="hi",
        config=types.GenerateContentConfig(
            temperature=1,
            top_p=0.95,
            top_k=64,
            thinking_config=types.ThinkingConfig(thinking_budget=8192, include_thoughts=True),
        ),
    )
    assert out.sdk_http_response is not None
    return out.text or "", dict(out.sdk_http_response.headers or {})


# ---- (a) converted apps: the current version, no sampling -----------------------------------


@pytest.mark.parametrize(
    ("drive", "fields"),
    [
        (openai_app_with_sampling, {"temperature", "top_p"}),
        (gemini_app_with_sampling, set(SAMPLING)),
    ],
    ids=["openai", "gemini"],
)
def test_converted_apps_speak_2026_10_21_without_sampling(
    start_proxy, upstream: Upstream, drive, fields: set[str]
) -> None:
    proxy = start_proxy(config(upstream), env=ENV)
    upstream.queue(reply_from_fixture(TEXT))
    text, headers = drive(proxy)
    assert text
    sent = upstream.requests[-1]
    assert sent.headers["anthropic-version"] == "2026-10-21"
    body = sent.json()
    assert not set(SAMPLING) & body.keys()
    assert fields <= dropped(headers.get("x-crosswire-dropped"))
    assert sent.headers["x-api-key"] == ENV["K1"]
    comments = [f.comment for f in proxy.flows()]
    assert any("temperature" in c for c in comments), comments  # in the flow's changes too


# ---- (b) a pinned 2023-06-01 keeps sampling --------------------------------------------------


def test_a_pinned_old_version_forwards_sampling(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, pin="2023-06-01"), env=ENV)
    upstream.queue(reply_from_fixture(TEXT), reply_from_fixture(TEXT))
    _, headers = openai_app_with_sampling(proxy)
    sent = upstream.requests[-1]
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json()["temperature"] == 0.2
    assert "temperature" not in dropped(headers.get("x-crosswire-dropped"))
    assert "top_p" in dropped(headers.get("x-crosswire-dropped"))  # the pair is refused
    gemini_app_with_sampling(proxy)
    body = upstream.requests[-1].json()
    assert body["temperature"] == 1 and "top_k" not in body  # thinking: top_k refused
    assert body["thinking"]["budget_tokens"] == 8192


# ---- (c) Authorization: Bearer from Anthropic apps -------------------------------------------


def bearer_app(proxy: Proxy, token: str) -> anthropic.Anthropic:
    http_client = anthropic.DefaultHttpxClient(proxy=proxy.url, verify=proxy.ssl_context())
    return anthropic.Anthropic(auth_token=token, http_client=http_client, max_retries=0)


def ask(client: anthropic.Anthropic) -> str:
    msg = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    return msg.content[0].type


def credentials(upstream: Upstream) -> dict[str, str]:
    sent = upstream.requests[-1].headers
    return {k: v for k, v in sent.items() if k in ("authorization", "x-api-key")}


def test_bearer_app_with_pooled_keys(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream), env=ENV)
    upstream.queue(reply_from_fixture(TEXT))
    assert ask(bearer_app(proxy, "sk-ant-apps-own-token")) == "text"
    assert credentials(upstream) == {"x-api-key": ENV["K1"]}


def test_bearer_app_with_its_own_key_reaches_the_upstream(start_proxy, upstream: Upstream) -> None:
    """client_auth: the app's own credential reaches the upstream in the form the app used: a
    Bearer token stays a Bearer token (Claude Code's OAuth tokens are accepted only that way),
    an x-api-key stays an x-api-key."""
    proxy = start_proxy(config(upstream, keys=False))
    upstream.queue(reply_from_fixture(TEXT), reply_from_fixture(TEXT))
    assert ask(bearer_app(proxy, "sk-ant-apps-own-token")) == "text"
    assert credentials(upstream) == {"authorization": "Bearer sk-ant-apps-own-token"}
    assert ask(anthropic_client(proxy, api_key="sk-ant-apps-api-key")) == "text"  # 2.x: Bearer too
    assert credentials(upstream) == {"authorization": "Bearer sk-ant-apps-api-key"}


def test_bearer_client_tokens_admit_and_are_never_forwarded(
    start_proxy, upstream: Upstream
) -> None:
    clients = '\nclients:\n  - {name: ci, token: "${CLIENT_TOKEN}"}\n'
    proxy = start_proxy(config(upstream, extra=clients), env=ENV)
    upstream.queue(reply_from_fixture(TEXT))
    with pytest.raises(anthropic.AuthenticationError):
        ask(bearer_app(proxy, "not-a-client-token"))
    assert upstream.requests == []
    assert ask(bearer_app(proxy, ENV["CLIENT_TOKEN"])) == "text"
    assert credentials(upstream) == {"x-api-key": ENV["K1"]}
    assert ENV["CLIENT_TOKEN"] not in str(upstream.requests[-1].headers)


# ---- (d) same protocol: the app's own version goes through -----------------------------------


def test_passthrough_keeps_the_apps_anthropic_version(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, pin="2023-06-01"), env=ENV)
    upstream.queue(reply_from_fixture(TEXT), reply_from_fixture(TEXT))
    assert ask(anthropic_client(proxy)) == "text"
    # the 2.x SDK's own version, although the backend pins another for conversions
    assert upstream.requests[-1].headers["anthropic-version"] == "2026-10-21"
    body = {"model": "claude-haiku-4-5", "max_tokens": 10, "temperature": 0.3}
    body["messages"] = [{"role": "user", "content": "hi"}]
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20) as client:
        r = client.post(
            "https://api.anthropic.com/v1/messages",
            json=body,
            headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-app"},
        )
    assert r.status_code == 200
    sent = upstream.requests[-1]
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json()["temperature"] == 0.3  # the app's own body, untouched
