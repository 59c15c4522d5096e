"""Same protocol on both sides: only URL, model and credential change; bodies byte-identical."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import (
    FIXTURES,
    Proxy,
    Reply,
    Upstream,
    anthropic_client,
    genai_client,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

KEYS_ENV = {"POOL_KEY_1": "sk-pool-secret-one-1111", "POOL_KEY_2": "sk-pool-secret-two-2222"}


def config(upstream: Upstream, protocol: str, host: str, base: str, **extra: str) -> str:
    extra_lines = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return f"""
backends:
  b:
    protocol: {protocol}
    base_url: {upstream.url}{base}
    keys:
      - {{name: one, secret: "${{POOL_KEY_1}}"}}
      - {{name: two, secret: "${{POOL_KEY_2}}"}}
{extra_lines}routes:
  - match: {{host: {host}}}
    backend: b
"""


def raw_client(proxy: Proxy) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20)


def test_openai_chat_whole_body_byte_identical_both_ways(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    reply = reply_from_fixture("openai_chat/nonstream_tool_call.json")
    upstream.queue(reply)
    sent = b'{"model":  "gpt-4o-mini", "messages":[{"role":"user","content":"h\\u00e9 \xc3\xa9"}]}'
    with raw_client(proxy) as client:
        r = client.post(
            "https://api.openai.com/v1/chat/completions",
            content=sent,
            headers={"authorization": "Bearer sk-app-own-key", "content-type": "application/json"},
        )
    assert r.status_code == 200
    assert r.content == reply.body
    got = upstream.requests[-1]
    assert got.path == "/v1/chat/completions"
    assert got.body == sent
    assert got.headers["authorization"] in (
        "Bearer sk-pool-secret-one-1111",
        "Bearer sk-pool-secret-two-2222",
    )


def test_openai_sdk_stream_passthrough_is_incremental_and_identical(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    reply = reply_from_fixture("openai_chat/stream_tool_call_include_usage.json")
    reply.delay = 0.01
    upstream.queue(reply)
    with (
        raw_client(proxy) as client,
        client.stream(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"authorization": "Bearer sk-app"},
        ) as r,
    ):
        chunks = list(r.iter_raw())
    assert b"".join(chunks) == b"".join(reply.body)  # type: ignore[arg-type]
    assert len(chunks) > 3, "the stream must arrive in pieces, not buffered whole"
    upstream.queue(reply_from_fixture("openai_chat/stream_tool_call_include_usage.json"))
    sdk = openai_client(proxy)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    events = list(stream)
    assert any(e.usage for e in events)


def test_anthropic_sdk_passthrough_whole_and_stream(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, "anthropic", "api.anthropic.com", ""), env=KEYS_ENV)
    upstream.queue(
        reply_from_fixture("anthropic/nonstream_text_basic.json"),
        reply_from_fixture("anthropic/stream_thinking_then_tool_use.json"),
    )
    client = anthropic_client(proxy)
    msg = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text"
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=2000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    first, second = upstream.requests
    assert first.path == "/v1/messages"
    assert first.headers["x-api-key"] != second.headers["x-api-key"], "keys rotate"
    assert "sk-ant-app-key" not in json.dumps(first.headers) + json.dumps(second.headers)
    assert first.headers.get("anthropic-version")


def test_gemini_sdk_passthrough_with_model_rename(start_proxy, upstream: Upstream) -> None:
    cfg = config(upstream, "gemini", "generativelanguage.googleapis.com", "").replace(
        "    backend: b\n", "    backend: b\n    model: gemini-renamed\n"
    )
    proxy = start_proxy(cfg, env=KEYS_ENV)
    upstream.queue(
        reply_from_fixture("gemini/nonstream_text_basic.json"),
        reply_from_fixture("gemini/sse_text_basic.json"),
    )
    client = genai_client(proxy)
    resp = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert resp.text
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert "".join(c.text or "" for c in chunks)
    first, second = upstream.requests
    assert first.path == "/v1beta/models/gemini-renamed:generateContent"
    assert second.path.startswith("/v1beta/models/gemini-renamed:streamGenerateContent")
    assert first.headers["x-goog-api-key"].startswith("sk-pool-secret")
    assert "gemini-app-key" not in json.dumps(first.headers)


def test_model_rename_changes_only_the_model(start_proxy, upstream: Upstream) -> None:
    cfg = config(upstream, "openai-chat", "api.openai.com", "/v1").replace(
        "    backend: b\n", "    backend: b\n    model: qwen3\n"
    )
    proxy = start_proxy(cfg, env=KEYS_ENV)
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    sent = b'{ "messages": [{"role":"user","content":"x","model":"keep"}], "model" : "gpt-4o" }'
    with raw_client(proxy) as client:
        client.post("https://api.openai.com/v1/chat/completions", content=sent)
    assert upstream.requests[-1].body == sent.replace(b'"gpt-4o"', b'"qwen3"')


def test_keys_rotate_round_robin_and_client_key_never_reaches_upstream(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    upstream.handler = lambda rec: reply_from_fixture("openai_chat/nonstream_tool_call.json")
    client = openai_client(proxy, api_key="sk-app-secret-must-not-leak")
    for i in range(4):  # four conversations (one conversation would stick to its key)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"x{i}"}]
        )
    used = [r.headers["authorization"] for r in upstream.requests]
    assert used[0] != used[1] and used[0] == used[2] and used[1] == used[3]
    for rec in upstream.requests:
        assert "sk-app-secret-must-not-leak" not in json.dumps(rec.headers)


def test_routed_host_that_does_not_resolve(start_proxy, upstream: Upstream) -> None:
    """crosswire never connects to the original host of a routed flow (air-gapped sites)."""
    proxy = start_proxy(
        config(upstream, "openai-chat", "llm.internal.invalid", "/v1"), env=KEYS_ENV
    )
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    client = openai_client(proxy, base_url="https://llm.internal.invalid/v1")
    out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert out.choices


def test_http2_client_works(start_proxy, upstream: Upstream) -> None:
    """curl negotiates HTTP/2 inside the CONNECT tunnel; the stream arrives intact."""
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    reply = reply_from_fixture("openai_chat/stream_text_no_usage.json")
    upstream.queue(reply)
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--http2",
            "-x",
            proxy.url,
            "--cacert",
            str(proxy.ca),
            "-o",
            "-",
            "-w",
            "\n%{http_version}",
            "https://api.openai.com/v1/chat/completions",
            "-H",
            "content-type: application/json",
            "-d",
            '{"model":"m","stream":true,"messages":[]}',
        ],
        capture_output=True,
        timeout=30,
    )
    body, _, version = out.stdout.rpartition(b"\n")
    assert version == b"2", out.stderr
    assert body == b"".join(reply.body)  # type: ignore[arg-type]


def _tls_server() -> tuple[int, Path, threading.Thread]:
    """A loopback TLS server with its own self-signed certificate (not mitmproxy's)."""
    from mitmproxy import certs

    tmp = Path(__import__("tempfile").mkdtemp())
    store = certs.CertStore.from_store(tmp, "othertls", 2048)
    from cryptography import x509

    entry = store.get_cert("localhost", [x509.DNSName("localhost")])
    cert_path, key_path = tmp / "c.pem", tmp / "k.pem"
    cert_path.write_bytes(entry.cert.to_pem())
    from cryptography.hazmat.primitives import serialization

    key_path.write_bytes(
        entry.privatekey.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    port = sock.getsockname()[1]

    def serve() -> None:
        conn, _ = sock.accept()
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, tmp / "othertls-ca-cert.pem", thread


def test_non_routed_host_is_tunneled_not_decrypted(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    port, server_ca, _ = _tls_server()
    # Trusting ONLY the server's own CA: succeeds only if the proxy did not intercept.
    ctx = ssl.create_default_context(cafile=str(server_ca))
    ctx.check_hostname = False
    with httpx.Client(proxy=proxy.url, verify=ctx, trust_env=False) as client:
        r = client.get(f"https://localhost:{port}/")
    assert r.text == "ok"


def test_secrets_absent_from_log_and_saved_flows(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(
        config(upstream, "openai-chat", "api.openai.com", "/v1"),
        env=KEYS_ENV,
        extra=["--set", "flow_detail=4"],
    )
    upstream.queue(
        reply_from_fixture("openai_chat/nonstream_tool_call.json"),
        reply_from_fixture("openai_chat/stream_text_no_usage.json"),
    )
    client = openai_client(proxy, api_key="sk-app-secret-zzz")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    proxy.stop()
    blob = proxy.log().encode() + proxy.flows_path.read_bytes()
    for secret in [*KEYS_ENV.values(), "sk-app-secret-zzz"]:
        assert secret.encode() not in blob
    flows = proxy.flows()
    assert len(flows) == 2
    assert all("redacted" in f.request.headers.get("authorization", "") for f in flows)


def test_invalid_config_at_start_exits_nonzero_with_location(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("backends:\n  b:\n    protocol: nope\n    base_url: http://x\nroutes: []\n")
    from tests.e2e.harness import VENV_BIN

    out = subprocess.run(
        [str(VENV_BIN / "crosswire"), "check", "-c", str(cfg)], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert f"{cfg}:3: backends.b.protocol" in out.stderr
    out = subprocess.run(
        [str(VENV_BIN / "crosswire"), "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0 and "backends.b.protocol" in out.stderr


def test_missing_secret_variable_is_named(tmp_path: Path) -> None:
    from tests.e2e.harness import VENV_BIN

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "backends:\n  b:\n    protocol: anthropic\n    base_url: http://x\n"
        '    keys:\n      - {name: k, secret: "${NOT_SET_ANYWHERE_42}"}\nroutes: []\n'
    )
    out = subprocess.run(
        [str(VENV_BIN / "crosswire"), "check", "-c", str(cfg)], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "NOT_SET_ANYWHERE_42 is not set" in out.stderr
    assert ":6:" in out.stderr


def test_config_reload_valid_takes_effect_invalid_keeps_previous(
    start_proxy, upstream: Upstream, upstream2: Upstream
) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "api.openai.com", "/v1"), env=KEYS_ENV)
    upstream.handler = upstream2.handler = lambda rec: reply_from_fixture(
        "openai_chat/nonstream_tool_call.json"
    )
    client = openai_client(proxy)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(upstream.requests) == 1
    proxy.rewrite_config("backends: [broken\n")
    time.sleep(2.5)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(upstream.requests) == 2
    assert "config change rejected" in proxy.log()
    proxy.rewrite_config(config(upstream2, "openai-chat", "api.openai.com", "/v1"))
    deadline = time.monotonic() + 10
    while "config reloaded" not in proxy.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(upstream2.requests) == 1


def test_unknown_path_on_routed_host_is_404_in_host_protocol(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(config(upstream, "anthropic", "api.anthropic.com", ""), env=KEYS_ENV)
    with raw_client(proxy) as client:
        r = client.post("https://api.anthropic.com/v1/nonsense", json={})
    assert r.status_code == 404
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert not upstream.requests


def test_fixture_files_are_present() -> None:
    assert (FIXTURES / "INDEX.md").exists()
    _ = Reply


def test_inspection_mode_uses_the_apps_own_key_and_pools_keys_from_env(
    start_proxy, upstream: Upstream
) -> None:
    """The default config's shape: protocol auto, the app's own key, or a comma-separated pool."""
    cfg = f"""
backends:
  openai:
    protocol: auto
    base_url: {upstream.url}/v1
    keys_env: OPENAI_API_KEYS
    client_auth: true
routes:
  - match: {{host: api.openai.com}}
    backend: openai
"""
    upstream.handler = lambda rec: (
        reply_from_fixture("openai_chat/nonstream_tool_call.json")
        if rec.path.endswith("/chat/completions")
        else Reply(
            200,
            {"content-type": "application/json"},
            b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}}',
        )
    )
    proxy = start_proxy(cfg)
    client = openai_client(proxy, api_key="sk-the-apps-own-key")
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    client.embeddings.create(
        model="text-embedding-3-small", input="x"
    )  # an endpoint crosswire does not model
    assert [r.headers["authorization"] for r in upstream.requests] == [
        "Bearer sk-the-apps-own-key"
    ] * 2
    assert upstream.requests[1].path == "/v1/embeddings"
    pooled = start_proxy(cfg, env={"OPENAI_API_KEYS": "sk-pool-a,sk-pool-b"})
    client = openai_client(pooled, api_key="sk-the-apps-own-key")
    for i in range(2):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"y{i}"}]
        )
    assert {r.headers["authorization"] for r in upstream.requests[2:]} == {
        "Bearer sk-pool-a",
        "Bearer sk-pool-b",
    }
