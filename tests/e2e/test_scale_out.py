"""Scale-out with real parts: HAProxy (TCP mode) → two crosswire instances → one Redis pool.

The topology of docs/scale-out.md: apps point ``HTTPS_PROXY`` at HAProxy, which passes each
TCP connection, untouched, to one crosswire instance (TLS interception stays in crosswire;
both instances use the same mitmproxy confdir, so one CA). The instances share the key pool
through ``state: redis://…``. Each instance stamps the requests it forwards with mitmproxy's
own ``modify_headers`` option, so the upstream can tell which instance served a request.

Skipped when ``haproxy`` or ``redis-server`` is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2  # the HTTP client the openai SDK is built on
import openai
import pytest

from tests.e2e.harness import Proxy, Recorded, Reply, Upstream, free_port

pytestmark = pytest.mark.e2e

ENV = {"KA": "sk-key-aaaa-secret"}


class HAProxy:
    """``haproxy -db`` in TCP mode, round-robin over the instances, health-checked."""

    def __init__(self, backends: list[int], workdir: Path) -> None:
        binary = shutil.which("haproxy")
        assert binary is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "".join(
            f"    server cw{i} 127.0.0.1:{port} check inter 200ms fall 1 rise 2\n"
            for i, port in enumerate(backends, 1)
        )
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(
            "global\n    maxconn 4096\n"
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 60s\n"
            "    timeout server 60s\n    retries 3\n    option redispatch 1\n"
            f"frontend apps\n    bind 127.0.0.1:{self.port}\n    default_backend crosswire\n"
            f"backend crosswire\n    balance roundrobin\n{servers}"
        )
        self._log = open(workdir / "haproxy.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(cfg)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / "haproxy.log").read_text()) from None
                time.sleep(0.05)
        time.sleep(0.5)  # the first health checks mark both instances up

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture
def team(
    start_proxy: Callable[..., Proxy], upstream: Upstream, redis_url: str, tmp_path: Path
) -> Iterator[Callable[[str], tuple[HAProxy, list[Proxy]]]]:
    """Starts the topology for a key line (``{name: ka, secret: "${KA}", …}``)."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy; .ci/run does)")
    started: list[HAProxy] = []

    def start(key_line: str, extra: str = "") -> tuple[HAProxy, list[Proxy]]:
        cfg = (
            f"state: {redis_url}\n"
            f"backends:\n  up:\n    protocol: openai-chat\n    base_url: {upstream.url}/v1\n"
            f"{extra}    keys:\n      - {key_line}\n"
            "routes:\n  - match: {host: api.openai.com}\n    backend: up\n"
        )
        # One after the other: the first creates the CA in the shared confdir.
        instances = [
            start_proxy(
                cfg,
                env=ENV,
                extra=["--modify-headers", f"/~q/x-served-by/cw{i}"],
            )
            for i in (1, 2)
        ]
        lb = HAProxy([p.port for p in instances], tmp_path)
        started.append(lb)
        return lb, instances

    yield start
    for lb in started:
        lb.stop()


def app(lb: HAProxy, proxy: Proxy) -> openai.OpenAI:
    """An SDK client through HAProxy; no keep-alive, so each request is a new connection
    and round-robin alternates the instances."""
    http_client = openai.DefaultHttpxClient(
        proxy=lb.url,
        verify=proxy.ssl_context(),
        limits=httpx2.Limits(max_keepalive_connections=0),
    )
    return openai.OpenAI(api_key="sk-app", http_client=http_client, max_retries=0, timeout=30)


def chunk(text: str | None, finish: str | None = None) -> bytes:
    import json

    delta = {} if text is None else {"content": text}
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def stream_reply(nonce: str, events: int, delay: float) -> Reply:
    body = [chunk(f"{nonce}.{i} ") for i in range(events)]
    body += [chunk(None, "stop"), b"data: [DONE]\n\n"]
    return Reply(200, {"content-type": "text/event-stream"}, body, delay=delay)


def nonce_of(rec: Recorded) -> str:
    return str(rec.json()["messages"][-1]["content"])


def served_by(upstream: Upstream) -> dict[str, str]:
    return {nonce_of(r): r.headers.get("x-served-by", "?") for r in upstream.requests}


def whole(rec: Recorded) -> Reply:
    import json

    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())


def test_an_rpm_budget_holds_across_instances(team, upstream: Upstream) -> None:  # type: ignore[no-untyped-def]
    lb, instances = team('{name: ka, secret: "${KA}", rpm: 4}')
    upstream.handler = whole
    client = app(lb, instances[0])
    statuses = []
    for i in range(10):
        try:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"r{i}"}]
            )
            statuses.append(200)
        except openai.RateLimitError:
            statuses.append(429)
    assert statuses.count(200) == 4 and len(upstream.requests) == 4
    assert statuses.count(429) == 6
    # Both instances served (round-robin over new connections), and both refused.
    assert set(served_by(upstream).values()) == {"cw1", "cw2"}


def test_max_concurrency_of_a_key_holds_across_instances(team, upstream: Upstream) -> None:  # type: ignore[no-untyped-def]
    lb, instances = team('{name: ka, secret: "${KA}", max_concurrency: 2}', "    max_wait: 0\n")
    upstream.handler = lambda rec: stream_reply(nonce_of(rec), 10, 0.1)
    outcome: dict[str, str] = {}

    def one(nonce: str) -> None:
        client = app(lb, instances[0])
        try:
            stream = client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": nonce}]
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            outcome[nonce] = "ok" if text.startswith(f"{nonce}.0 ") else "wrong"
        except openai.RateLimitError:
            outcome[nonce] = "429"

    threads = [threading.Thread(target=one, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcome.values()) == ["429"] * 4 + ["ok"] * 2
    assert len(upstream.requests) == 2


def test_killing_one_instance_loses_only_its_own_streams(team, upstream: Upstream) -> None:  # type: ignore[no-untyped-def]
    lb, instances = team('{name: ka, secret: "${KA}"}')
    events = 30
    upstream.handler = lambda rec: stream_reply(nonce_of(rec), events, 0.1)
    first = threading.Barrier(7)
    outcome: dict[str, str] = {}

    def one(nonce: str) -> None:
        client = app(lb, instances[0])
        parts: list[str] = []
        try:
            stream = client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": nonce}]
            )
            for c in stream:
                if c.choices and c.choices[0].delta.content:
                    if not parts:
                        first.wait(20)
                    parts.append(c.choices[0].delta.content)
            full = "".join(f"{nonce}.{i} " for i in range(events))
            outcome[nonce] = "complete" if "".join(parts) == full else "truncated"
        except (openai.APIConnectionError, httpx2.HTTPError):
            outcome[nonce] = "lost"

    threads = [threading.Thread(target=one, args=(f"k{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    first.wait(20)  # every stream has its first token: all six are in flight
    os.kill(instances[0].proc.pid, signal.SIGKILL)
    for t in threads:
        t.join(30)
    by = served_by(upstream)
    assert sorted(by.values()) == ["cw1"] * 3 + ["cw2"] * 3
    for nonce, instance in by.items():  # a killed stream fails or ends short, never "complete"
        assert (outcome[nonce] == "complete") == (instance == "cw2"), (nonce, instance, outcome)
    assert sum(v == "complete" for v in outcome.values()) == 3
    # The other instance serves on: HAProxy's health check takes cw1 out, and a connection
    # that still lands on it is redispatched.
    upstream.handler = whole
    client = app(lb, instances[1])
    for i in range(6):
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"after{i}"}]
        )
        assert reply.choices[0].message.content == "ok"
    assert all(v == "cw2" for k, v in served_by(upstream).items() if k.startswith("after"))
