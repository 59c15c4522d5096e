"""`crosswire exec` gives real runtimes the proxy and a CA bundle — Python, Node and curl apps,
configured only through the environment, reach the routed backend over HTTPS."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import VENV_BIN, Upstream, free_port, reply_from_fixture

pytestmark = pytest.mark.e2e

NODE_APP = textwrap.dedent("""
    // An app that honours HTTPS_PROXY the way proxy agents do: CONNECT, then TLS with the
    // default trust store (which NODE_EXTRA_CA_CERTS extends).
    const http = require('http'), tls = require('tls');
    const proxy = new URL(process.env.HTTPS_PROXY);
    const body = JSON.stringify({model: 'gpt-4o-mini', messages: [{role: 'user', content: 'hi'}]});
    http.request({host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: 'api.openai.com:443'})
      .on('connect', (res, socket) => {
        const s = tls.connect({socket, servername: 'api.openai.com'}, () => {
          s.write('POST /v1/chat/completions HTTP/1.1\\r\\nHost: api.openai.com\\r\\nContent-Type: application/json\\r\\n' +
                  'Authorization: Bearer sk-app\\r\\nContent-Length: ' + body.length + '\\r\\nConnection: close\\r\\n\\r\\n' + body);
        });
        let out = '';
        s.on('data', d => {
          out += d;
          const [head, rest] = out.split('\\r\\n\\r\\n');
          const m = /content-length: *(\\d+)/i.exec(head || '');
          if (rest !== undefined && m && Buffer.byteLength(rest) >= Number(m[1])) { console.log(rest); process.exit(0); }
        });
        s.on('error', e => { console.error('TLS error', e.message); process.exit(3); });
      }).end();
""")
PY_APP = (
    "import openai; print(openai.OpenAI(api_key='sk-app', max_retries=0).chat.completions.create("
    "model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}]).choices[0].finish_reason)"
)


@pytest.fixture
def exec_env(tmp_path: Path, upstream: Upstream) -> tuple[list[str], dict[str, str]]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"backends:\n  b: {{protocol: openai-chat, base_url: '{upstream.url}/v1'}}\n"
        "routes:\n  - match: {host: api.openai.com}\n    backend: b\n"
    )
    upstream.handler = lambda rec: reply_from_fixture("openai_chat/nonstream_tool_call.json")
    env = {**os.environ, "MITMPROXY_CONFDIR": str(tmp_path / "conf")}
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        env.pop(name, None)
    return [
        str(VENV_BIN / "crosswire"),
        "exec",
        "-c",
        str(cfg),
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--",
    ], env


def test_exec_python_sdk_configured_by_environment_only(exec_env) -> None:  # type: ignore[no-untyped-def]
    cmd, env = exec_env
    out = subprocess.run(
        [*cmd, str(VENV_BIN / "python"), "-c", PY_APP], env=env, capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.strip() == b"tool_calls"


def test_exec_curl(exec_env) -> None:  # type: ignore[no-untyped-def]
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    cmd, env = exec_env
    out = subprocess.run(
        [
            *cmd,
            "curl",
            "-sS",
            "https://api.openai.com/v1/chat/completions",
            "-H",
            "content-type: application/json",
            "-d",
            '{"model":"m","messages":[]}',
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert b'"tool_calls"' in out.stdout


def test_exec_node(exec_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    cmd, env = exec_env
    app = tmp_path / "app.js"
    app.write_text(NODE_APP)
    out = subprocess.run([*cmd, "node", str(app)], env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert b'"tool_calls"' in out.stdout


def test_env_prints_a_bundle_with_system_and_mitmproxy_cas(tmp_path: Path) -> None:
    env = {**os.environ, "MITMPROXY_CONFDIR": str(tmp_path / "conf")}
    out = subprocess.run(
        [str(VENV_BIN / "crosswire"), "env"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    for name in (
        "HTTPS_PROXY",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "NODE_USE_ENV_PROXY",
        "JAVA_TOOL_OPTIONS",
    ):
        assert name in lines
    bundle = Path(lines["SSL_CERT_FILE"].strip("'")).read_text()
    ca = (tmp_path / "conf" / "mitmproxy-ca-cert.pem").read_text()
    assert ca.strip() in bundle and bundle.count("BEGIN CERTIFICATE") > 50
