"""Real parts for end-to-end tests: a real crosswire (mitmdump + the addon) on a free loopback
port, and loopback upstream servers that answer in a provider's exact wire format.

Nothing here mocks the proxy: requests go app SDK → HTTPS_PROXY → mitmdump (TLS interception
with its own CA) → the addon → a loopback upstream, and back.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MITM_SCRIPT = ROOT / "addon" / "crosswire" / "mitm.py"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- upstream ---------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: What the backend's official SDK types do not describe (``Upstream(validate=True)``).
    violations: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | list[bytes] = b""
    delay: float = 0.0  # between chunks of a streamed body

    @property
    def streamed(self) -> bool:
        return isinstance(self.body, list)


def reply_from_fixture(name: str, *, chunk_events: bool = True) -> Reply:
    """A recorded exchange's answer: SSE/NDJSON bodies are sent event by event."""
    rec = json.loads((FIXTURES / name).read_text())
    resp = rec["response"]
    headers = {
        k: v
        for k, v in resp["headers"].items()
        if k not in ("content-length", "transfer-encoding", "content-encoding", "connection")
    }
    body: bytes | list[bytes] = resp["body"].encode()
    if rec.get("stream") and chunk_events:
        assert isinstance(body, bytes)
        parts = re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)" if b"data:" in body else rb"(?<=\n)", body)
        body = [p for p in parts if p]
    return Reply(status=resp["status"], headers=headers, body=body)


def fixture_request(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())["request"]


class Upstream:
    """A loopback HTTP/1.1 server. Replies come from ``handler`` (default: the queue).

    With ``validate=True`` each request is checked against the official SDK request types of
    the protocol its path names (tests/contract): ``Recorded.violations`` lists what the real
    API would refuse, and ``violations()`` collects them."""

    def __init__(self, *, validate: bool = False) -> None:
        self.check: Callable[[str, dict[str, str], bytes], list[str]] | None = None
        if validate:  # imported here: the SDKs' types take seconds to load
            from tests.contract.sdk_types import upstream_violations

            self.check = upstream_violations
        self.requests: list[Recorded] = []
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.handler: Callable[[Recorded], Reply] | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else ~40 ms per exchange (docs/mitmproxy.md §13)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                if owner.check is not None and self.command == "POST":
                    rec.violations = owner.check(rec.path, rec.headers, rec.body)
                owner.requests.append(rec)
                if owner.handler is not None:
                    reply = owner.handler(rec)
                else:
                    try:
                        reply = owner.replies.get(timeout=5)
                    except queue.Empty:
                        reply = Reply(
                            500,
                            {"content-type": "application/json"},
                            b'{"error":"no reply queued"}',
                        )
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.streamed:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    assert isinstance(reply.body, list)
                    for chunk in reply.body:
                        if reply.delay:
                            time.sleep(reply.delay)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    assert isinstance(reply.body, bytes)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_POST = do_GET = _serve

        class Server(ThreadingHTTPServer):
            #: A provider's listen backlog, not socketserver's 5: tests open 50+ connections at
            #: once, and an overflowing accept queue is not what they test.
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def violations(self, since: int = 0) -> list[str]:
        """Every violation of the requests received from index ``since`` on."""
        return [f"{r.path}: {v}" for r in self.requests[since:] for v in r.violations]

    def queue(self, *replies: Reply) -> None:
        for r in replies:
            self.replies.put(r)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- the proxy --------------------------------------------------------------------------


class Proxy:
    """A running ``mitmdump -s addon/crosswire/mitm.py`` on a free loopback port."""

    #: The log line that says the proxy is up, with its port.
    LISTENING = r"proxy listening at (?:http://)?127\.0\.0\.1:(\d+)"

    def __init__(
        self,
        config_text: str,
        workdir: Path,
        confdir: Path,
        *,
        env: dict[str, str] | None = None,
        extra: Iterable[str] = (),
        web: bool = False,
    ) -> None:
        self.workdir = workdir
        self.config_path = workdir / "crosswire.yaml"
        self.config_path.write_text(config_text)
        self.confdir = confdir
        self.flows_path = workdir / "flows.mitm"
        self.log_path = workdir / "proxy.log"
        cmd = [
            str(VENV_BIN / ("mitmweb" if web else "mitmdump")),
            "-s",
            str(MITM_SCRIPT),
            "--set",
            f"crosswire_config={self.config_path}",
            "--set",
            f"confdir={confdir}",
            "--listen-host",
            "127.0.0.1",
            "-p",
            "0",
            "--set",
            "connection_strategy=lazy",
            *([] if any("flow_detail" in e for e in extra) else ["--set", "flow_detail=0"]),
            "--save-stream-file",
            str(self.flows_path),
            *extra,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        proc_env = {**os.environ, **(env or {})}
        # Compiled bytecode is written once and reused: a start then costs ~1.6 s of CPU instead
        # of ~4.3 s recompiling crosswire and mitmproxy (machines that set this to 1).
        proc_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=proc_env,
            cwd=str(workdir),
        )
        self.port = self._wait_ready()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ca = confdir / "mitmproxy-ca-cert.pem"

    def _wait_ready(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            m = re.search(self.LISTENING, text)
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"crosswire exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise RuntimeError(f"crosswire did not start:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return ctx

    def bundle(self) -> Path:
        """System CAs + the mitmproxy CA, as `crosswire env` builds it."""
        import certifi

        path = self.workdir / "ca-bundle.pem"
        if not path.exists():
            path.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + self.ca.read_bytes())
        return path

    def env(self) -> dict[str, str]:
        """What an unmodified app needs (the `crosswire env` contract)."""
        bundle = str(self.bundle())
        return {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "SSL_CERT_FILE": bundle,
            "REQUESTS_CA_BUNDLE": bundle,
            "CURL_CA_BUNDLE": bundle,
            "NODE_EXTRA_CA_CERTS": bundle,
            "NODE_USE_ENV_PROXY": "1",
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
        }

    def rewrite_config(self, text: str) -> None:
        time.sleep(0.01)
        self.config_path.write_text(text)
        os.utime(self.config_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def flows(self) -> list[Any]:
        """The saved flows (mitmproxy's own reader), once the file has stopped growing: a flow is
        saved by the ``response`` hooks, which run just after the app has its whole answer."""
        from mitmproxy import io

        size, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.flows_path.stat().st_size if self.flows_path.exists() else 0
            if now == size:
                break
            size = now
        with open(self.flows_path, "rb") as f:
            return list(io.FlowReader(f).stream())


# ---- SDK clients ------------------------------------------------------------------------


def openai_client(proxy: Proxy, api_key: str = "sk-app-key", **kw: Any) -> Any:
    import openai

    http_client = openai.DefaultHttpxClient(proxy=proxy.url, verify=proxy.ssl_context())
    return openai.OpenAI(api_key=api_key, http_client=http_client, max_retries=0, **kw)


def anthropic_client(proxy: Proxy, api_key: str = "sk-ant-app-key", **kw: Any) -> Any:
    import anthropic

    http_client = anthropic.DefaultHttpxClient(proxy=proxy.url, verify=proxy.ssl_context())
    return anthropic.Anthropic(api_key=api_key, http_client=http_client, max_retries=0, **kw)


def genai_client(proxy: Proxy, api_key: str = "gemini-app-key") -> Any:
    from google import genai
    from google.genai import types

    opts = types.HttpOptions(
        client_args={"proxy": proxy.url, "verify": proxy.ssl_context()},
        async_client_args={"proxy": proxy.url, "verify": proxy.ssl_context()},
    )
    return genai.Client(api_key=api_key, http_options=opts)


def sse_events(body: bytes) -> list[dict[str, Any]]:
    out = []
    for block in re.split(rb"\r?\n\r?\n", body):
        data = [line[5:].strip() for line in block.splitlines() if line.startswith(b"data:")]
        if data and data[0] != b"[DONE]":
            out.append(json.loads(b"\n".join(data)))
    return out
