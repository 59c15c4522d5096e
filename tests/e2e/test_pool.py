"""The key pool through a real crosswire: failover, cooling, disabling, fallback chains, Redis.

Upstreams answer 429/401/529/5xx per key; SDK clients have their own retries disabled
(``max_retries=0``), so what is tested is crosswire's failover.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.e2e.harness import (
    Recorded,
    Reply,
    Upstream,
    anthropic_client,
    free_port,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

ENV = {"KA": "sk-key-aaaa-secret", "KB": "sk-key-bbbb-secret", "KC": "sk-key-cccc-secret"}
LIMITED = Reply(
    429,
    {"content-type": "application/json", "retry-after": "30"},
    b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
)


def pool_cfg(
    upstream: Upstream,
    *,
    keys: str = "KA KB",
    protocol: str = "openai-chat",
    base: str = "/v1",
    host: str = "api.openai.com",
    extra: str = "",
    state: str = "memory",
    key_extra: str = "",
) -> str:
    lines = "".join(
        f'      - {{name: {k.lower()}, secret: "${{{k}}}"{key_extra}}}\n' for k in keys.split()
    )
    return f"""
state: {state}
backends:
  up:
    protocol: {protocol}
    base_url: {upstream.url}{base}
{extra}    keys:
{lines}routes:
  - match: {{host: {host}}}
    backend: up
"""


def by_key(responses: dict[str, Reply | list[Reply]]):  # type: ignore[no-untyped-def]
    """An upstream handler answering per key (by the secret's tail)."""

    def handler(rec: Recorded) -> Reply:
        auth = rec.headers.get("authorization", "") + rec.headers.get("x-api-key", "")
        for tail, reply in responses.items():
            if auth.endswith(tail):
                if isinstance(reply, list):
                    return reply.pop(0) if len(reply) > 1 else reply[0]
                return reply
        return reply_from_fixture("openai_chat/nonstream_tool_call.json")

    return handler


def keys_of(upstream: Upstream) -> list[str]:
    return [
        r.headers.get("authorization", r.headers.get("x-api-key", ""))[-11:]
        for r in upstream.requests
    ]


def test_429_on_one_key_fails_over_transparently_whole(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(pool_cfg(upstream), env=ENV)
    upstream.handler = by_key({"aaaa-secret": LIMITED})
    client = openai_client(proxy)
    t0 = time.monotonic()
    for i in range(3):
        out = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"x{i}"}]
        )
        assert out.choices
    assert time.monotonic() - t0 < 5
    # The cooled key is not tried again while it cools (retry-after: 30).
    assert keys_of(upstream).count("aaaa-secret") == 1
    proxy.stop()
    flows = proxy.flows()
    assert any("failover" in f.comment for f in flows)


def test_429_fails_over_for_a_stream_and_it_stays_incremental(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(pool_cfg(upstream), env=ENV)
    good = reply_from_fixture("openai_chat/stream_tool_call_include_usage.json")
    good.delay = 0.02
    upstream.handler = by_key({"aaaa-secret": LIMITED, "bbbb-secret": good})
    client = openai_client(proxy)
    arrivals = []
    for _ in client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    ):
        arrivals.append(time.monotonic())
    assert len(arrivals) > 3
    assert arrivals[-1] - arrivals[0] > 0.05, "chunks arrive spread out, not as one buffered body"


def test_429_reaches_the_app_only_when_every_key_is_cooling(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(pool_cfg(upstream), env=ENV)
    upstream.handler = lambda rec: LIMITED
    client = openai_client(proxy)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(upstream.requests) == 2  # both keys were tried
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(upstream.requests) == 2  # refused locally: every key cools
    retry = float(err.value.response.headers["retry-after"])
    assert 20 <= retry <= 34  # 30 s plus the jitter that spreads clients


def test_401_disables_the_key_with_its_reason(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(pool_cfg(upstream), env=ENV)
    upstream.handler = by_key(
        {
            "aaaa-secret": Reply(
                401,
                {"content-type": "application/json"},
                b'{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}',
            )
        }
    )
    client = openai_client(proxy)
    for i in range(4):  # four conversations, so stickiness does not pin one key
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"x{i}"}])
    assert keys_of(upstream).count("aaaa-secret") == 1
    with httpx.Client(proxy=proxy.url) as raw:
        keys = raw.get("http://crosswire.local/keys").json()["keys"]
        metrics = raw.get("http://crosswire.local/metrics").text
    state = {k["name"]: k for k in keys}
    assert state["ka"]["disabled"] and "401" in state["ka"]["disabled_reason"]
    assert not state["kb"]["disabled"]
    for secret in ENV.values():
        assert secret not in json.dumps(keys) and secret not in metrics
    assert 'key="kb"' in metrics or "kb" in metrics


def test_529_and_5xx_fail_over_on_anthropic(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(
        pool_cfg(
            upstream, keys="KA KB KC", protocol="anthropic", base="", host="api.anthropic.com"
        ),
        env=ENV,
    )
    overloaded = Reply(
        529,
        {"content-type": "application/json"},
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    )
    broken = Reply(
        500,
        {"content-type": "application/json"},
        b'{"type":"error","error":{"type":"api_error","message":"Internal"}}',
    )
    upstream.handler = by_key(
        {
            "aaaa-secret": overloaded,
            "bbbb-secret": broken,
            "cccc-secret": reply_from_fixture("anthropic/nonstream_text_basic.json"),
        }
    )
    msg = anthropic_client(proxy).messages.create(
        model="claude", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    assert msg.content


def test_fallback_chain_to_another_protocol_when_the_first_is_unreachable(
    start_proxy, upstream: Upstream
) -> None:
    dead = free_port()
    cfg = f"""
backends:
  primary:
    protocol: anthropic
    base_url: http://127.0.0.1:{dead}
    keys: [{{name: main, secret: "${{KA}}"}}]
  secondary:
    protocol: openai-chat
    base_url: {upstream.url}/v1
    keys: [{{name: backup, secret: "${{KB}}"}}]
routes:
  - match: {{host: api.anthropic.com}}
    backend: [primary, secondary]
"""
    proxy = start_proxy(cfg, env=ENV)
    upstream.queue(reply_from_fixture("openai_chat/stream_text_no_usage.json"))
    client = anthropic_client(proxy)
    with client.messages.stream(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "x"}]
    ) as s:
        final = s.get_final_message()
    assert final.content and final.content[0].type == "text"
    assert upstream.requests[-1].path == "/v1/chat/completions"
    proxy.stop()
    [flow] = proxy.flows()
    assert "secondary" in flow.comment


def test_usage_is_accounted_per_key_from_whole_and_streamed_answers(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(pool_cfg(upstream, keys="KA"), env=ENV)
    upstream.queue(
        reply_from_fixture("openai_chat/nonstream_tool_call.json"),
        reply_from_fixture("openai_chat/stream_tool_call_include_usage.json"),
    )
    client = openai_client(proxy)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    list(
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with httpx.Client(proxy=proxy.url) as raw:
        [key] = raw.get("http://crosswire.local/keys").json()["keys"]
    assert key["requests"] == 2
    assert key["input_tokens"] > 0 and key["output_tokens"] > 0


def test_two_instances_sharing_redis_never_exceed_a_keys_rpm(
    start_proxy, upstream: Upstream, redis_url: str
) -> None:
    cfg = pool_cfg(upstream, keys="KA", state=redis_url, key_extra=", rpm: 5")
    p1, p2 = start_proxy(cfg, env=ENV), start_proxy(cfg, env=ENV)
    upstream.handler = lambda rec: reply_from_fixture("openai_chat/nonstream_tool_call.json")
    results: list[int] = []

    def fire(proxy) -> None:  # type: ignore[no-untyped-def]
        client = openai_client(proxy)
        for _ in range(6):
            try:
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "x"}]
                )
                results.append(200)
            except openai.RateLimitError:
                results.append(429)

    threads = [threading.Thread(target=fire, args=(p,)) for p in (p1, p2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(upstream.requests) == 5
    assert results.count(200) == 5 and results.count(429) == 7


def test_a_killed_instances_leases_expire(
    start_proxy, upstream: Upstream, redis_url: str, tmp_path: Path
) -> None:
    cfg = pool_cfg(upstream, keys="KA", state=redis_url, key_extra=", max_concurrency: 1").replace(
        "    keys:\n", "    max_wait: 0\n    keys:\n"
    )
    p1, p2 = (
        start_proxy(cfg, env={**ENV, "CROSSWIRE_LEASE_TTL": "3"}),
        start_proxy(cfg, env={**ENV, "CROSSWIRE_LEASE_TTL": "3"}),
    )
    slow = reply_from_fixture("openai_chat/stream_text_no_usage.json")
    slow.delay = 1.0
    upstream.handler = lambda rec: slow
    started = threading.Event()

    def hold() -> None:
        try:
            with (
                httpx.Client(proxy=p1.url, verify=p1.ssl_context(), timeout=30) as c,
                c.stream(
                    "POST",
                    "https://api.openai.com/v1/chat/completions",
                    json={"model": "m", "stream": True, "messages": []},
                ) as r,
            ):
                for _ in r.iter_raw():
                    started.set()
        except httpx.HTTPError:
            pass

    threading.Thread(target=hold, daemon=True).start()
    assert started.wait(10)
    os.kill(p1.proc.pid, signal.SIGKILL)
    upstream.handler = lambda rec: reply_from_fixture("openai_chat/nonstream_tool_call.json")
    client = openai_client(p2)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    time.sleep(4.5)
    assert client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    ).choices
    _ = anthropic


def test_a_disabled_key_is_probed_and_returns_on_its_own(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(pool_cfg(upstream, extra="    probe_interval: 1\n"), env=ENV)
    revoked = {"on": True}

    def handler(rec: Recorded) -> Reply:
        if rec.headers.get("authorization", "").endswith("aaaa-secret") and revoked["on"]:
            return Reply(
                401,
                {"content-type": "application/json"},
                b'{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}',
            )
        if rec.method == "GET":
            return Reply(200, {"content-type": "application/json"}, b'{"object":"list","data":[]}')
        return reply_from_fixture("openai_chat/nonstream_tool_call.json")

    upstream.handler = handler
    client = openai_client(proxy)
    for i in range(2):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"a{i}"}])
    revoked["on"] = False  # the account is fixed
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with httpx.Client(proxy=proxy.url) as raw:
            keys = {k["name"]: k for k in raw.get("http://crosswire.local/keys").json()["keys"]}
        if not keys["ka"]["disabled"]:
            break
        time.sleep(0.3)
    assert not keys["ka"]["disabled"], "re-enabled by its probe, without a restart"
    assert any(r.method == "GET" and r.path == "/v1/models" for r in upstream.requests)


def test_crosswire_keys_prints_the_live_state(start_proxy, upstream: Upstream) -> None:
    import subprocess

    from tests.e2e.harness import VENV_BIN

    proxy = start_proxy(pool_cfg(upstream), env=ENV)
    upstream.handler = by_key({"aaaa-secret": LIMITED})
    for i in range(2):  # two conversations: round-robin tries key a at least once
        openai_client(proxy).chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"x{i}"}]
        )
    out = subprocess.run(
        [
            str(VENV_BIN / "crosswire"),
            "keys",
            "-c",
            str(proxy.config_path),
            "--listen",
            f"127.0.0.1:{proxy.port}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "ka" in out.stdout and "cooling until" in out.stdout and "kb" in out.stdout
    for secret in ENV.values():
        assert secret not in out.stdout + out.stderr


def test_every_backend_unreachable_gives_the_app_an_error_in_its_own_shape(start_proxy) -> None:
    dead = free_port()
    cfg = f"""
backends:
  gone:
    protocol: openai-chat
    base_url: http://127.0.0.1:{dead}/v1
    keys: [{{name: a, secret: "${{KA}}"}}, {{name: b, secret: "${{KB}}"}}]
routes:
  - match: {{host: api.anthropic.com}}
    backend: gone
"""
    proxy = start_proxy(cfg, env=ENV)
    with pytest.raises(anthropic.APIStatusError) as err:
        anthropic_client(proxy).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 502
    body = err.value.response.json()
    assert body["type"] == "error" and "unreachable" in body["error"]["message"]
