"""Telemetry: settings, the record → GenAI semantic conventions mapping, and the addon on
mitmproxy test flows with the SDK's in-memory exporters (and once with the real OTLP/HTTP
exporter against a loopback receiver)."""

from __future__ import annotations

import builtins
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy.test import tflow
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crosswire.telemetry import Telemetry, semconv
from crosswire.telemetry.export import Exporter
from crosswire.telemetry.settings import Settings, resolve
from tests.e2e.otlp_receiver import Receiver

SECRET = "sk-ant-api03-SECRETKEYAAAA"
NOW = time.time()


def record(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mode": "convert",
        "client_protocol": "openai-chat",
        "backend_protocol": "anthropic",
        "route": "route 1",
        "backend": "claude",
        "key": "team-b",
        "client": "ci-bot",
        "model_in": "gpt-4o",
        "model_out": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5-20250929",
        "stream": True,
        "attempts": ["claude/team-a", "claude/team-b"],
        "failures": ["claude/team-a 429"],
        "failovers": [
            {"attempt": "claude/team-a", "status": 429, "reason": "rate limited", "at": NOW + 0.1}
        ],
        "notes": [{"action": "dropped", "field": "logit_bias", "reason": "no equivalent"}],
        "status": 200,
        "usage": {
            "input": 120,
            "output": 30,
            "cached": 100,
            "cache_write": 5,
            "reasoning": 7,
            "estimated": False,
        },
        "finish": "stop",
        "error": None,
        "started": NOW,
        "duration_s": 1.5,
        "ttfb_s": 0.25,
    }
    base.update(over)
    return base


def fake_config(secrets: tuple[str, ...] = (SECRET,)) -> Any:
    backend = SimpleNamespace(config=SimpleNamespace(base_url="https://api.anthropic.com/v1"))
    return SimpleNamespace(
        file=SimpleNamespace(telemetry=None), backends={"claude": backend}, secrets=secrets
    )


# ---- settings ------------------------------------------------------------------------------


def test_off_without_an_endpoint() -> None:
    assert resolve(None, {}) is None
    assert resolve({"service_name": "x"}, {"OTEL_SERVICE_NAME": "y"}) is None


def test_standard_environment_variables() -> None:
    s = resolve(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/", "OTEL_SERVICE_NAME": "gw"})
    assert s is not None
    assert s.traces_endpoint == "http://c:4318/v1/traces"
    assert s.metrics_endpoint == "http://c:4318/v1/metrics"
    assert s.service_name == "gw"
    only = resolve(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"})
    assert only is not None
    assert (only.traces_endpoint, only.metrics_endpoint) == ("http://c:4318/custom", None)
    assert (
        resolve(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"})
        is None
    )
    s = resolve(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_METRICS_EXPORTER": "none"})
    assert s is not None and s.metrics_endpoint is None


def test_config_section_wins_over_environment() -> None:
    section = {
        "endpoint": "http://collector:4318",
        "service_name": "crosswire-prod",
        "headers": {"authorization": "Bearer t0ken"},
        "metrics": False,
        "metric_interval": 10,
    }
    s = resolve(section, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other", "OTEL_SERVICE_NAME": "e"})
    assert s is not None
    assert s.traces_endpoint == "http://collector:4318/v1/traces"
    assert s.metrics_endpoint is None
    assert s.service_name == "crosswire-prod"
    assert s.metric_interval == 10.0
    assert "t0ken" not in repr(s)
    assert resolve({"endpoint": "http://c", "enabled": False}, {}) is None


# ---- semantic conventions ---------------------------------------------------------------------


def test_a_converted_stream_maps_to_genai_attributes() -> None:
    ex = semconv.exchange(
        record(),
        start=0,
        end=0,
        backend_url="https://api.anthropic.com/v1",
        app_host="api.openai.com",
    )
    assert ex is not None
    a = ex.attributes
    assert ex.name == "chat claude-sonnet-4-5"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert a["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.usage.input_tokens"] == 120
    assert a["gen_ai.usage.output_tokens"] == 30
    assert a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 5
    assert a["gen_ai.usage.reasoning.output_tokens"] == 7
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.response.time_to_first_chunk"] == 0.25
    assert (a["server.address"], a["server.port"]) == ("api.anthropic.com", 443)
    assert a["crosswire.app.protocol"] == "openai-chat"
    assert a["crosswire.app.provider"] == "openai"
    assert a["crosswire.app.model"] == "gpt-4o"
    assert a["crosswire.backend.protocol"] == "anthropic"
    assert a["crosswire.backend.name"] == "claude"
    assert a["crosswire.key.name"] == "team-b"
    assert a["crosswire.client.name"] == "ci-bot"
    assert a["crosswire.route"] == "route 1"
    assert a["crosswire.failover.count"] == 1
    assert a["crosswire.notes"] == ["dropped logit_bias"]
    assert "error.type" not in a
    assert (ex.start, ex.end, ex.duration) == (NOW, NOW + 1.5, 1.5)
    assert [(e.name, e.attributes) for e in ex.events] == [
        (
            "crosswire.failover",
            {
                "crosswire.attempt": "claude/team-a",
                "http.response.status_code": 429,
                "crosswire.failover.reason": "rate limited",
            },
        )
    ]
    assert "crosswire.client.name" not in ex.metric_attributes  # per-request, not a dimension


def test_operations_providers_and_passthrough() -> None:
    ex = semconv.exchange(
        record(
            mode="passthrough", client_protocol="gemini", backend_protocol="gemini", stream=False
        ),
        start=1.0,
        end=2.0,
        backend_url="https://generativelanguage.googleapis.com",
    )
    assert ex is not None
    assert ex.attributes["gen_ai.operation.name"] == "generate_content"
    assert ex.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert "gen_ai.request.stream" not in ex.attributes
    assert ex.time_to_first_chunk is None
    fim = semconv.exchange(
        record(backend_protocol="fim"), start=0, end=0, backend_url="https://codestral.mistral.ai"
    )
    assert fim is not None and fim.attributes["gen_ai.operation.name"] == "text_completion"
    assert fim.attributes["gen_ai.provider.name"] == "mistral_ai"
    local = semconv.exchange(
        record(backend_protocol="ollama"), start=0, end=0, backend_url="http://127.0.0.1:11434"
    )
    assert local is not None and local.attributes["gen_ai.provider.name"] == "ollama"
    assert local.attributes["server.port"] == 11434
    assert semconv.exchange(record(mode="local"), start=0, end=0) is None
    assert semconv.exchange(record(mode="refused"), start=0, end=0) is None


def test_errors_and_older_records() -> None:
    ex = semconv.exchange(
        record(
            status=429,
            error={"type": "rate_limit_error", "message": f"key {SECRET} limited"},
            usage=None,
            finish=None,
        ),
        start=0,
        end=0,
    )
    assert ex is not None
    assert ex.error == ex.attributes["error.type"] == "rate_limit_error"
    assert "gen_ai.usage.input_tokens" not in ex.attributes
    assert ex.input_tokens is None
    assert not any(SECRET in str(v) for v in ex.attributes.values())
    # A record without the engine's newer keys: flow times, status and failures strings.
    old = {
        k: v
        for k, v in record().items()
        if k not in ("failovers", "status", "usage", "started", "duration_s", "ttfb_s")
    }
    ex = semconv.exchange(old, start=100.0, end=103.0, status=502)
    assert ex is not None
    assert (ex.start, ex.end) == (100.0, 103.0)
    assert ex.attributes["error.type"] == "502"
    assert ex.attributes["http.response.status_code"] == 502
    assert ex.events[0].attributes["http.response.status_code"] == 429
    assert ex.events[0].at is None


def test_secrets_are_scrubbed_from_every_string() -> None:
    ex = semconv.exchange(
        record(
            key=f"named-{SECRET}",
            failovers=[{"attempt": "a/b", "status": 401, "reason": f"bad key {SECRET}"}],
        ),
        start=0,
        end=0,
        scrub=semconv.Scrubber([SECRET]),
    )
    assert ex is not None
    blob = repr(ex)
    assert SECRET not in blob
    assert ex.attributes["crosswire.key.name"] == "named-<redacted>"


# ---- the addon ------------------------------------------------------------------------------


class Memory:
    """An Exporter on the SDK's in-memory span exporter and metric reader."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.built: list[Settings] = []

    def __call__(self, settings: Settings) -> Exporter:
        self.built.append(settings)
        if len(self.built) > 1:
            self.reader = InMemoryMetricReader()  # a reader belongs to one provider
        return Exporter(
            settings, span_processor=SimpleSpanProcessor(self.spans), metric_reader=self.reader
        )

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[m.name] = list(m.data.data_points)
        return out


ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}


def flow_with(rec: dict[str, Any] | None) -> Any:
    f = tflow.tflow(resp=True)
    if rec is not None:
        f.metadata["crosswire"] = rec
    f.metadata["crosswire.original_url"] = "POST https://api.openai.com/v1/chat/completions"
    return f


def test_addon_exports_a_span_and_genai_metrics() -> None:
    mem = Memory()
    addon = Telemetry(config_source=fake_config, exporter_factory=mem, env=ENV)
    addon.configure(set())
    f = flow_with(record())
    addon.response(f)
    addon.error(f)  # the same flow again: one span
    addon.response(flow_with(None))  # not a crosswire flow
    addon.response(flow_with(record(mode="local")))
    spans = mem.spans.get_finished_spans()
    assert len(spans) == 1
    span = spans[0]
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind.name == "CLIENT"
    assert span.attributes is not None
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.attributes["crosswire.app.provider"] == "openai"
    assert span.attributes["server.address"] == "api.anthropic.com"
    assert [e.name for e in span.events] == ["crosswire.failover"]
    assert span.start_time == int(NOW * 1e9)
    assert span.resource.attributes["service.name"] == "crosswire"
    metrics = mem.metrics()
    usage = {p.attributes["gen_ai.token.type"]: p for p in metrics["gen_ai.client.token.usage"]}
    assert (usage["input"].sum, usage["output"].sum) == (120, 30)
    assert usage["input"].explicit_bounds[:3] == (1, 4, 16)
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.sum == pytest.approx(1.5)
    assert duration.attributes["gen_ai.provider.name"] == "anthropic"
    assert duration.attributes["crosswire.key.name"] == "team-b"
    (ttfc,) = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert ttfc.sum == pytest.approx(0.25)
    addon.done()


def test_addon_error_status_and_duration_error_type() -> None:
    mem = Memory()
    addon = Telemetry(config_source=fake_config, exporter_factory=mem, env=ENV)
    addon.configure(set())
    rec = record(status=503, error={"type": "overloaded_error", "message": "x"}, stream=False)
    addon.error(flow_with(rec))
    (span,) = mem.spans.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes is not None and span.attributes["error.type"] == "overloaded_error"
    (duration,) = mem.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "overloaded_error"
    assert "gen_ai.client.operation.time_to_first_chunk" not in mem.metrics()


def test_off_by_default_builds_nothing() -> None:
    mem = Memory()
    addon = Telemetry(config_source=fake_config, exporter_factory=mem, env={})
    addon.configure(set())
    addon.response(flow_with(record()))
    assert mem.built == [] and addon.exporter is None


def test_a_config_reload_rebuilds_the_exporter_only_when_settings_change() -> None:
    mem = Memory()
    cfg = {"now": fake_config()}
    addon = Telemetry(config_source=lambda: cfg["now"], exporter_factory=mem, env=ENV)
    addon.configure(set())
    cfg["now"] = fake_config()  # reloaded, same telemetry
    addon.response(flow_with(record()))
    assert len(mem.built) == 1
    reloaded = fake_config()
    reloaded.file.telemetry = {"endpoint": "http://127.0.0.1:9", "service_name": "renamed"}
    cfg["now"] = reloaded
    addon.response(flow_with(record()))
    assert [s.service_name for s in mem.built] == ["crosswire", "renamed"]


def test_without_the_sdk_the_proxy_runs_and_says_once_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    real_import = builtins.__import__

    def no_sdk(name: str, *args: Any, **kw: Any) -> Any:
        if name.startswith("opentelemetry") or name == "crosswire.telemetry.export":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kw)

    monkeypatch.delitem(sys.modules, "crosswire.telemetry.export", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_sdk)
    caplog.set_level(logging.INFO, logger="crosswire")
    cfgs = [fake_config(), fake_config()]
    addon = Telemetry(config_source=lambda: cfgs[0], env=ENV)
    addon.configure(set())
    addon.response(flow_with(record()))
    cfgs.reverse()  # a reload: still no SDK, still one message
    addon.response(flow_with(record()))
    hints = [r for r in caplog.records if "otel" in r.getMessage()]
    assert len(hints) == 1
    assert "uv sync --extra otel" in hints[0].getMessage()
    assert addon.exporter is None


def test_the_real_otlp_http_exporter_reaches_a_receiver() -> None:
    receiver = Receiver()
    try:
        settings = resolve(
            {"endpoint": receiver.url, "headers": {"authorization": "Bearer collector-token"}}, {}
        )
        assert settings is not None
        exporter = Exporter(settings)
        ex = semconv.exchange(record(), start=0, end=0, backend_url="https://api.anthropic.com")
        assert ex is not None
        exporter.emit(ex)
        exporter.shutdown()  # flushes both signals
        (span,) = receiver.spans()
        assert span["name"] == "chat claude-sonnet-4-5"
        assert span["kind"] == 3  # SPAN_KIND_CLIENT
        assert span["attributes"]["gen_ai.usage.cache_read.input_tokens"] == 100
        assert span["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
        assert span["events"][0]["attributes"]["http.response.status_code"] == 429
        assert span["resource"]["service.name"] == "crosswire"
        metrics = receiver.metrics()
        assert {
            p["attributes"]["gen_ai.token.type"] for p in metrics["gen_ai.client.token.usage"]
        } == {
            "input",
            "output",
        }
        assert metrics["gen_ai.client.operation.duration"][0]["unit"] == "s"
        assert all(h.get("authorization") == "Bearer collector-token" for h in receiver.headers)
    finally:
        receiver.close()


def test_websocket_flows_are_not_exchanges() -> None:
    mem = Memory()
    addon = Telemetry(config_source=fake_config, exporter_factory=mem, env=ENV)
    addon.configure(set())
    ws = tflow.twebsocketflow()
    ws.metadata["crosswire"] = record()
    addon.response(ws)
    assert mem.spans.get_finished_spans() == ()
