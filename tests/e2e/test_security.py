"""Keys stay secret and bad input never takes the proxy down (issue: keep keys and the pool safe).

The last test runs a full session — conversions, streams, errors, failover, refusals, the
metrics and keys endpoints, `crosswire keys`, a HAR export — and scans every output for every
configured secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import anthropic
import httpx
import openai
import pytest

from tests.e2e.harness import (
    VENV_BIN,
    Recorded,
    Reply,
    Upstream,
    anthropic_client,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

ENV = {
    "KA": "sk-ant-api03-SECRETKEYAAAA",
    "KB": "sk-ant-api03-SECRETKEYBBBB",
    "CLIENT_TOKEN": "cw-client-token-XYZ",
    "OTHER_TOKEN": "cw-client-token-OTHER",
}


def cfg(upstream: Upstream, *, clients: bool = False, limit: int | None = None) -> str:
    text = f"""
backends:
  claude:
    protocol: anthropic
    base_url: {upstream.url}
    keys:
      - {{name: team-a, secret: "${{KA}}"}}
      - {{name: team-b, secret: "${{KB}}"}}
routes:
  - match: {{host: api.openai.com}}
    backend: claude
  - match: {{host: api.anthropic.com}}
    backend: claude
"""
    if clients:
        text += """clients:
  - {name: app, token: "${CLIENT_TOKEN}", routes: [1]}
  - {name: other, token: "${OTHER_TOKEN}", max_requests: 1}
"""
    if limit:
        text += f"limits: {{max_body_bytes: {limit}}}\n"
    return text


def test_client_tokens_gate_access_before_any_pool_key(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(cfg(upstream, clients=True), env=ENV)
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")
    with pytest.raises(openai.AuthenticationError):
        openai_client(proxy, api_key="sk-not-a-client").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert upstream.requests == []
    out = openai_client(proxy, api_key=ENV["CLIENT_TOKEN"]).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert out.choices
    assert ENV["CLIENT_TOKEN"] not in json.dumps(upstream.requests[-1].headers)
    with pytest.raises(anthropic.PermissionDeniedError):  # route 2 is not this client's
        anthropic_client(proxy, api_key=ENV["CLIENT_TOKEN"]).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    other = openai_client(proxy, api_key=ENV["OTHER_TOKEN"])
    other.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        other.chat.completions.create(model="m", messages=[{"role": "user", "content": "y"}])


def test_bad_input_gets_errors_in_the_apps_shape_and_the_proxy_keeps_serving(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(cfg(upstream, limit=4096), env=ENV)
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20) as c:
        big = c.post(
            "https://api.anthropic.com/v1/messages", content=b'{"x":"' + b"a" * 10_000 + b'"}'
        )
        assert big.status_code == 413 and big.json()["type"] == "error"
        utf = c.post(
            "https://api.openai.com/v1/chat/completions",
            content=b'{"model":"m","messages":"\xff\xfe"}',
        )
        assert utf.status_code == 400 and "error" in utf.json()
        deep = c.post(
            "https://api.openai.com/v1/chat/completions",
            content=b'{"messages":' + b"[" * 2000 + b"]" * 2000 + b"}",
        )
        assert deep.status_code in (400, 413)
        types = c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": 5, "max_tokens": "x", "messages": {}},
        )
        assert types.status_code == 400 and types.json()["error"]["type"] == "invalid_request_error"
        assert "model" in types.json()["error"]["message"]
    assert upstream.requests == []
    out = openai_client(proxy).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert out.choices


def test_a_client_disconnecting_mid_stream_releases_its_key(
    start_proxy, upstream: Upstream
) -> None:
    text = (
        cfg(upstream)
        .replace('secret: "${KA}"}', 'secret: "${KA}", max_concurrency: 1}')
        .replace('      - {name: team-b, secret: "${KB}"}\n', "")
        .replace("    keys:\n", "    max_wait: 0\n    keys:\n")
    )
    proxy = start_proxy(text, env=ENV)
    slow = reply_from_fixture("anthropic/stream_text_basic.json")
    slow.delay = 0.5
    upstream.handler = lambda rec: slow
    with (
        httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20) as c,
        c.stream(
            "POST",
            "https://api.anthropic.com/v1/messages",
            json={
                "model": "m",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        ) as r,
    ):
        next(r.iter_raw())  # then hang up
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")
    deadline = time.monotonic() + 10
    while True:
        try:
            anthropic_client(proxy).messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "y"}]
            )
            break
        except anthropic.RateLimitError:
            assert time.monotonic() < deadline, (
                "the lease of the abandoned stream was never released"
            )
            time.sleep(0.2)


def test_no_secret_in_any_output_of_a_full_session(
    start_proxy, upstream: Upstream, tmp_path
) -> None:
    """Scanned: the proxy log at flow_detail 4, the saved flow file, a HAR export, every response
    the apps received (bodies and headers), the metrics and keys endpoints, `crosswire keys`."""
    har = tmp_path / "flows.har"
    proxy = start_proxy(
        cfg(upstream), env=ENV, extra=["--set", "flow_detail=4", "--set", f"hardump={har}"]
    )
    seen: list[bytes] = []

    def handler(rec: Recorded) -> Reply:
        if rec.headers.get("x-api-key") == ENV["KA"]:
            return Reply(
                429,
                {"content-type": "application/json", "retry-after": "30"},
                b'{"type":"error","error":{"type":"rate_limit_error","message":"key sk-ant-api03-SECRETKEYAAAA is rate limited"}}',
            )
        stream = json.loads(rec.body or b"{}").get("stream")
        return reply_from_fixture(
            "anthropic/stream_text_basic.json" if stream else "anthropic/nonstream_text_basic.json"
        )

    upstream.handler = handler
    hook = httpx.Client(
        proxy=proxy.url,
        verify=proxy.ssl_context(),
        timeout=20,
        event_hooks={
            "response": [lambda r: (r.read(), seen.append(r.content + str(r.headers).encode()))]
        },
    )
    oa = openai_client(proxy)
    oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    list(
        oa.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "b"}], stream=True
        )
    )
    hook.post(
        "https://api.openai.com/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "c"}]},
    )
    hook.post("https://api.openai.com/v1/chat/completions", content=b"{bad")
    hook.post(
        "https://api.anthropic.com/v1/messages",
        json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "d"}]},
    )
    with httpx.Client(proxy=proxy.url) as raw:
        seen.append(raw.get("http://crosswire.local/metrics").content)
        seen.append(raw.get("http://crosswire.local/keys").content)
    keys = subprocess.run(
        [
            str(VENV_BIN / "crosswire"),
            "keys",
            "-c",
            str(proxy.config_path),
            "--listen",
            f"127.0.0.1:{proxy.port}",
        ],
        capture_output=True,
        env={**os.environ, **ENV},
        timeout=30,
    )
    seen.append(keys.stdout + keys.stderr)
    proxy.stop()
    outputs = {
        "log": proxy.log().encode(),
        "flows": proxy.flows_path.read_bytes(),
        "har": har.read_bytes() if har.exists() else b"",
        "app responses": b"\n".join(seen),
    }
    assert outputs["flows"] and outputs["log"] and outputs["har"], "every output was produced"
    for name, blob in outputs.items():
        for secret in (ENV["KA"], ENV["KB"]):
            assert secret.encode() not in blob, f"{secret[:12]}… leaked into {name}"
    _ = threading


def test_a_half_sent_request_does_not_hurt_the_proxy(start_proxy, upstream: Upstream) -> None:
    import socket
    import ssl

    proxy = start_proxy(cfg(upstream), env=ENV)
    upstream.handler = lambda rec: reply_from_fixture("anthropic/nonstream_text_basic.json")
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
    assert b"200" in raw.recv(1024)
    tls = proxy.ssl_context().wrap_socket(raw, server_hostname="api.openai.com")
    tls.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 1000\r\n"
        b'Content-Type: application/json\r\n\r\n{"model": "m", "mess'
    )
    tls.close()
    _ = ssl
    assert upstream.requests == []
    assert (
        openai_client(proxy)
        .chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        .choices
    )


def test_codex_websocket_upgrade_is_served_without_touching_the_upstream(
    start_proxy, upstream: Upstream
) -> None:
    """The socket is crosswire's own (docs/websocket.md); the upgrade sends nothing upstream."""
    proxy = start_proxy(cfg(upstream), env=ENV)
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=10) as c:
        t = time.monotonic()
        r = c.get(
            "https://api.openai.com/v1/responses",
            headers={
                "connection": "upgrade",
                "upgrade": "websocket",
                "sec-websocket-version": "13",
                "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
    assert r.status_code == 101
    assert time.monotonic() - t < 2 and upstream.requests == []
