"""Whether telemetry is on, and where it goes: the config's ``telemetry:`` section, else the
standard ``OTEL_*`` environment variables.

Off unless an endpoint is named somewhere: an OTLP exporter with no collector behind it would
only log connection errors. Pure values, no OpenTelemetry import: the proxy decides here,
before paying for the SDK import, and says once how to install it when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: What ``OTEL_SERVICE_NAME`` and the config default to.
DEFAULT_SERVICE = "crosswire"


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved export settings. ``traces_endpoint``/``metrics_endpoint`` are full URLs (None =
    that signal is off); ``headers`` may hold a collector token, so ``repr`` hides them."""

    traces_endpoint: str | None
    metrics_endpoint: str | None
    service_name: str = DEFAULT_SERVICE
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Seconds between metric exports (None: the SDK's default, or OTEL_METRIC_EXPORT_INTERVAL).
    metric_interval: float | None = None
    resource: Mapping[str, str] = field(default_factory=dict)
    #: Seconds an export may take before it is given up (never blocks a flow: exports run in
    #: the SDK's own threads; this bounds shutdown).
    timeout: float = 5.0
    #: An OTEL_EXPORTER_OTLP_PROTOCOL other than http/protobuf (grpc, http/json): exported as
    #: http/protobuf anyway, and said once.
    ignored_protocol: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.traces_endpoint or self.metrics_endpoint)


def _section(section: Any) -> dict[str, Any]:
    """The config's ``telemetry:`` as a dict (a pydantic model, a mapping, or nothing)."""
    if section is None:
        return {}
    if hasattr(section, "model_dump"):
        return dict(section.model_dump())
    if isinstance(section, Mapping):
        return dict(section)
    return {k: getattr(section, k) for k in dir(section) if not k.startswith("_")}


def _signal_url(explicit: str | None, base: str | None, path: str) -> str | None:
    if explicit:
        return explicit
    if base:
        return base.rstrip("/") + path
    return None


def _off(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "none"


def resolve(section: Any, env: Mapping[str, str]) -> Settings | None:
    """The settings, or None when telemetry is off (no endpoint, ``enabled: false``, or
    ``OTEL_SDK_DISABLED=true``). The config's values win over the environment's."""
    conf = _section(section)
    if conf.get("enabled") is False or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    base = conf.get("endpoint") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
    traces = _signal_url(
        conf.get("traces_endpoint") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        base,
        "/v1/traces",
    )
    metrics = _signal_url(
        conf.get("metrics_endpoint") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        base,
        "/v1/metrics",
    )
    if conf.get("traces") is False or _off(env, "OTEL_TRACES_EXPORTER"):
        traces = None
    if conf.get("metrics") is False or _off(env, "OTEL_METRICS_EXPORTER"):
        metrics = None
    if not (traces or metrics):
        return None
    interval = conf.get("metric_interval")
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
    return Settings(
        traces_endpoint=traces,
        metrics_endpoint=metrics,
        service_name=conf.get("service_name") or env.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE,
        headers=dict(conf.get("headers") or {}),
        metric_interval=float(interval) if interval else None,
        resource={str(k): str(v) for k, v in (conf.get("resource") or {}).items()},
        timeout=float(conf.get("timeout") or 5.0),
        ignored_protocol=protocol if protocol not in ("", "http/protobuf") else None,
    )
