"""`crosswire exec` gives real runtimes the proxy and a CA bundle — Python, Node and curl apps,
configured only through the environment, reach the routed backend over HTTPS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import VENV_BIN, Proxy, Upstream, free_port, reply_from_fixture

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
    env = _clean_env(tmp_path / "conf")
    return [
        str(VENV_BIN / "crosswire"),
        "exec",
        "-c",
        str(cfg),
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--",
    ], env


def _clean_env(conf: Path) -> dict[str, str]:
    """This environment without proxy settings; bytecode cached (faster proxy starts)."""
    env = {**os.environ, "MITMPROXY_CONFDIR": str(conf)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        env.pop(name, None)
    return env


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


# ---- secrets stay with the proxy ---------------------------------------------------------

#: A config whose secrets come from four variables; none of them is the app's business.
SECRET_CONFIG = """
backends:
  b:
    protocol: openai-chat
    base_url: '{url}/v1'
    keys:
      - {{name: a, secret: "${{KEY_A}}"}}
    keys_env: POOL_KEYS
    headers: {{X-Org: "${{ORG_TOKEN}}"}}
    strategy: round-robin
telemetry:
  enabled: false
  headers: {{Authorization: "Bearer ${{OTEL_TOKEN}}"}}
routes:
  - match: {{host: api.openai.com}}
    backend: b
"""
SECRETS = {
    "KEY_A": "sk-secret-key-a",
    "POOL_KEYS": "sk-secret-pool-1",
    "ORG_TOKEN": "org-secret",
    "OTEL_TOKEN": "otel-secret",
}
#: The app: one request through the proxy, then what of the secrets it can see.
SPY_APP = (
    "import json, os, openai\n"
    "r = openai.OpenAI(api_key='sk-app', max_retries=0).chat.completions.create("
    "model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])\n"
    "secret = ('sk-secret', 'org-secret', 'otel-secret')\n"
    "print(json.dumps({'finish': r.choices[0].finish_reason,"
    " 'names': sorted(n for n in ('KEY_A', 'POOL_KEYS', 'ORG_TOKEN', 'OTEL_TOKEN') if n in os.environ),"
    " 'values': [n for n, v in os.environ.items() if any(s in v for s in secret)]}))\n"
)


@pytest.fixture
def secret_config(tmp_path: Path, upstream: Upstream) -> Path:
    cfg = tmp_path / "secret.yaml"
    cfg.write_text(SECRET_CONFIG.format(url=upstream.url))
    upstream.handler = lambda rec: reply_from_fixture("openai_chat/nonstream_tool_call.json")
    return cfg


def _exec(
    cfg: Path, listen: str, env: dict[str, str], *app: str
) -> subprocess.CompletedProcess[bytes]:
    cmd = [str(VENV_BIN / "crosswire"), "exec", "-c", str(cfg), "--listen", listen, "--", *app]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=90)


def test_exec_keeps_every_secret_variable_from_the_app(
    secret_config: Path, upstream: Upstream, tmp_path: Path
) -> None:
    """exec starts the proxy with the secrets; the app gets none of them, nor their values."""
    env = {**_clean_env(tmp_path / "conf"), **SECRETS}
    out = _exec(
        secret_config, f"127.0.0.1:{free_port()}", env, str(VENV_BIN / "python"), "-c", SPY_APP
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    seen = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert seen == {"finish": "tool_calls", "names": [], "values": []}
    sent = upstream.requests[-1].headers
    assert sent["authorization"] in ("Bearer sk-secret-key-a", "Bearer sk-secret-pool-1")
    assert sent["x-org"] == "org-secret"


def test_exec_and_env_work_without_the_secrets_when_the_proxy_runs(
    secret_config: Path,
    upstream: Upstream,
    tmp_path: Path,
    start_proxy: Callable[..., Proxy],
) -> None:
    """A shell without the pool's secrets can still start an app on a running proxy."""
    proxy = start_proxy(secret_config.read_text(), env=SECRETS)
    env = _clean_env(proxy.confdir)
    for name in SECRETS:
        env.pop(name, None)
    listen = f"127.0.0.1:{proxy.port}"
    out = _exec(secret_config, listen, env, str(VENV_BIN / "python"), "-c", SPY_APP)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert json.loads(out.stdout.decode().strip().splitlines()[-1])["finish"] == "tool_calls"
    printed = subprocess.run(
        [str(VENV_BIN / "crosswire"), "env", "-c", str(secret_config), "--listen", listen],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert f"HTTPS_PROXY=http://{listen}" in printed.stdout


def test_exec_names_the_missing_secret_when_it_must_start_the_proxy(
    secret_config: Path, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path / "conf")
    for name in SECRETS:
        env.pop(name, None)
    out = _exec(secret_config, f"127.0.0.1:{free_port()}", env, "true")
    assert out.returncode == 2
    assert b"environment variable KEY_A is not set" in out.stderr


# ---- mitmproxy options crosswire also sets ------------------------------------------------


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def test_run_takes_the_users_confdir(secret_config: Path, tmp_path: Path) -> None:
    """`--set confdir=DIR` replaces crosswire's own (mitmproxy refuses two values)."""
    conf = tmp_path / "my-conf"
    port = free_port()
    env = {**_clean_env(tmp_path / "unused"), **SECRETS}
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "crosswire"),
            "run",
            "-c",
            str(secret_config),
            "--listen",
            f"127.0.0.1:{port}",
            "--set",
            f"confdir={conf}",
            "--set",
            "connection_strategy=lazy",
            "--set",
            "flow_detail=0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "crosswire run did not start"
            time.sleep(0.1)
        assert (conf / "mitmproxy-ca-cert.pem").exists()
        assert not (tmp_path / "unused").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "connection_strategy=eager"], "connection_strategy must stay lazy"),
        (["--set", "allow_hosts=example.com"], "allow_hosts cannot be set under crosswire"),
        (["--allow-hosts", "example.com"], "allow_hosts cannot be set under crosswire"),
        (["--set", "stream_large_bodies=1m"], "stream_large_bodies cannot be set"),
    ],
)
def test_run_refuses_options_that_would_break_crosswire(
    secret_config: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = subprocess.run(
        [str(VENV_BIN / "crosswire"), "run", "-c", str(secret_config), *args],
        env=_clean_env(tmp_path / "conf"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert message in out.stderr
