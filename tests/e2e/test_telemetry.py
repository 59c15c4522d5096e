"""OpenTelemetry export through a real crosswire, into a real OTLP/HTTP receiver.

The proxy gets the standard ``OTEL_*`` variables pointing at a loopback receiver that decodes
what arrives with opentelemetry-proto: a converted streamed exchange (OpenAI SDK app →
Anthropic backend) and a 429 failover must arrive as GenAI spans and metrics with the right
values, and nothing the receiver got may hold a key or the app's token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import Recorded, Reply, Upstream, openai_client, reply_from_fixture
from tests.e2e.otlp_receiver import Receiver

pytestmark = pytest.mark.e2e

KEYS = {"KA": "sk-key-aaaa-secret", "KB": "sk-key-bbbb-secret"}
APP_KEY = "sk-app-token-zzzz"
LIMITED = Reply(
    429,
    {"content-type": "application/json", "retry-after": "30"},
    b'{"type":"error","error":{"type":"rate_limit_error","message":"key sk-key-aaaa-secret is limited"}}',
)

#: What the engine's record must carry for these tests to pass in full (it lands with the
#: request-engine rewrite; until then the tests that need it are expected to fail).
ENGINE_KEYS = ("usage", "status", "finish", "failovers", "ttfb_s", "response_model")


def config(upstream: Upstream) -> str:
    return f"""
backends:
  claude:
    protocol: anthropic
    base_url: {upstream.url}
    keys:
      - {{name: ka, secret: "${{KA}}"}}
      - {{name: kb, secret: "${{KB}}"}}
routes:
  - match: {{host: api.openai.com}}
    backend: claude
    model: claude-haiku-4-5
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def otel_env(receiver: Receiver) -> dict[str, str]:
    return {
        **KEYS,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "crosswire-e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }


def engine_record_lacks(proxy: Any) -> list[str]:
    """The record keys the running engine does not write yet."""
    records = [f.metadata.get("crosswire") for f in proxy.flows() if "crosswire" in f.metadata]
    return [k for k in ENGINE_KEYS if not any(r and k in r for r in records)]


def by_key(rec: Recorded) -> Reply:
    if rec.headers.get("x-api-key") == KEYS["KA"]:
        return LIMITED
    return reply_from_fixture("anthropic/stream_text_basic.json")


def one_span(receiver: Receiver) -> dict[str, Any]:
    assert receiver.wait_for(lambda: len(receiver.spans()) >= 1), "no span arrived"
    spans = receiver.spans()
    assert len(spans) == 1, [s["name"] for s in spans]
    return spans[0]


def xfail_until_engine(proxy: Any) -> None:
    missing = engine_record_lacks(proxy)
    if missing:
        pytest.xfail(f"the engine's record lacks {', '.join(missing)} (request-engine rewrite)")


def test_a_converted_stream_arrives_as_a_genai_span_and_metrics(
    start_proxy, upstream: Upstream, receiver: Receiver
) -> None:
    proxy = start_proxy(config(upstream), env=otel_env(receiver))
    upstream.handler = lambda rec: reply_from_fixture("anthropic/stream_text_basic.json")
    client = openai_client(proxy, api_key=APP_KEY)
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Say just hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        if c.choices
    )
    assert text == "Hello"
    span = one_span(receiver)
    proxy.stop()  # flushes the metrics
    a = span["attributes"]
    # What the current engine already records.
    assert span["name"] == "chat claude-haiku-4-5"
    assert span["kind"] == 3  # CLIENT
    assert span["resource"]["service.name"] == "crosswire-e2e"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-haiku-4-5"
    assert a["gen_ai.request.stream"] is True
    assert a["crosswire.app.protocol"] == "openai-chat"
    assert a["crosswire.app.provider"] == "openai"
    assert a["crosswire.app.model"] == "gpt-4o"
    assert a["crosswire.backend.protocol"] == "anthropic"
    assert a["crosswire.mode"] == "convert"
    assert a["crosswire.backend.name"] == "claude"
    assert a["crosswire.key.name"] in ("ka", "kb")
    assert a["crosswire.route"] == "route 1"
    assert a["server.address"] == "127.0.0.1"
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a
    assert span["end"] > span["start"]
    metrics = receiver.metrics()
    (duration, *_) = metrics["gen_ai.client.operation.duration"]
    assert duration["unit"] == "s" and duration["count"] >= 1
    assert duration["attributes"]["gen_ai.provider.name"] == "anthropic"
    assert duration["attributes"]["gen_ai.request.model"] == "claude-haiku-4-5"
    xfail_until_engine(proxy)
    # What the engine's final record adds.
    assert a["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    assert a["gen_ai.usage.input_tokens"] == 10
    assert a["gen_ai.usage.output_tokens"] == 4
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert 0 < a["gen_ai.response.time_to_first_chunk"] <= (span["end"] - span["start"]) / 1e9
    usage = {p["attributes"]["gen_ai.token.type"]: p for p in metrics["gen_ai.client.token.usage"]}
    assert (usage["input"]["sum"], usage["output"]["sum"]) == (10, 4)
    assert usage["input"]["unit"] == "{token}"
    assert metrics["gen_ai.client.operation.time_to_first_chunk"][0]["count"] == 1


def test_a_failover_arrives_as_span_events_and_nothing_holds_a_secret(
    start_proxy, upstream: Upstream, receiver: Receiver
) -> None:
    proxy = start_proxy(config(upstream), env=otel_env(receiver))
    upstream.handler = by_key
    client = openai_client(proxy, api_key=APP_KEY)
    # Two conversations: whichever key the pool picks first, one of them meets KA's 429.
    for i in range(2):
        list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"x{i}"}], stream=True
            )
        )
    assert receiver.wait_for(lambda: len(receiver.spans()) >= 2), "spans did not arrive"
    proxy.stop()
    spans = receiver.spans()
    failed_over = [s for s in spans if s["attributes"].get("crosswire.failover.count")]
    assert len(failed_over) == 1, [s["attributes"] for s in spans]
    span = failed_over[0]
    a = span["attributes"]
    assert a["crosswire.key.name"] == "kb"
    assert a["crosswire.attempts"] == ["claude/ka", "claude/kb"]
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a  # the app got its answer
    (event,) = span["events"]
    assert event["name"] == "crosswire.failover"
    assert event["attributes"]["crosswire.attempt"] == "claude/ka"
    assert event["attributes"]["http.response.status_code"] == 429
    # Nothing the receiver got (spans, metrics, resource, headers) holds a key or the app's
    # token — not even the key the upstream echoed in its 429 body.
    blob = b"\n".join(receiver.raw) + json.dumps(receiver.headers).encode()
    assert receiver.metric_requests, "metrics arrived too"
    for secret in (*KEYS.values(), APP_KEY):
        assert secret.encode() not in blob, f"{secret[:10]}… reached the collector"
    xfail_until_engine(proxy)
    assert span["start"] <= event["time"] <= span["end"]
