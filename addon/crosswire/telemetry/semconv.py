"""A flow's crosswire record, read as OpenTelemetry GenAI semantic conventions.

Pure: a record dict (``flow.metadata["crosswire"]``) in, plain values out — the span's name,
times, attributes and events, and the metric points — so every mapping is testable without
the SDK. Attribute names follow the GenAI conventions (development status, checked against
the semantic-conventions-genai registry in 2026-11): ``gen_ai.provider.name`` plus the older
``gen_ai.system`` for consumers still on v1.36, ``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.usage.cache_creation.input_tokens``, ``gen_ai.usage.reasoning.output_tokens``,
``gen_ai.response.time_to_first_chunk``. What crosswire adds is under ``crosswire.*``.

Never exported: prompt and completion contents, error messages (providers echo parts of keys
in them), secrets. String values are scrubbed of the config's secrets all the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

AttrValue = str | bool | int | float | list[str]
Attributes = dict[str, AttrValue]

#: Exchanges that are GenAI calls (``local`` answers and ``refused`` requests are not).
EXPORTED_MODES = frozenset({"convert", "passthrough"})

#: gen_ai.operation.name per crosswire protocol (the backend's: what was really performed).
OPERATION = {
    "openai-chat": "chat",
    "openai-responses": "chat",
    "anthropic": "chat",
    "ollama": "chat",
    "gemini": "generate_content",
    "fim": "text_completion",
    "openai-completions": "text_completion",
}

#: Well-known gen_ai.provider.name values by API host (the registry's list).
HOST_PROVIDER = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "aiplatform.googleapis.com": "gcp.vertex_ai",
    "api.mistral.ai": "mistral_ai",
    "codestral.mistral.ai": "mistral_ai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "api.moonshot.ai": "moonshot_ai",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
}

#: The provider whose wire format a protocol is, when the host says nothing (a local or
#: OpenAI-compatible server): the conventions call the attribute the telemetry "flavor".
PROTOCOL_PROVIDER = {
    "openai-chat": "openai",
    "openai-responses": "openai",
    "openai-completions": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "fim": "mistral_ai",
    "ollama": "ollama",
}

#: Explicit bucket boundaries the conventions recommend.
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
SECONDS_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int | None


def endpoint_of(url: str | None) -> Endpoint | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return Endpoint(parts.hostname, port)


def provider(protocol: str | None, host: str | None = None) -> str:
    if host and host in HOST_PROVIDER:
        return HOST_PROVIDER[host]
    return PROTOCOL_PROVIDER.get(protocol or "", protocol or "_OTHER")


@dataclass(slots=True)
class Event:
    name: str
    at: float | None
    attributes: Attributes


@dataclass(slots=True)
class Exchange:
    """One exported exchange: a span and the metric points that go with it."""

    name: str
    start: float
    end: float
    attributes: Attributes
    events: list[Event] = field(default_factory=list)
    error: str | None = None
    #: Attributes of the metric points (low cardinality: no ids, no free text).
    metric_attributes: Attributes = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None
    time_to_first_chunk: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_FAILURE = re.compile(r"^(?P<attempt>\S+)\s+(?P<status>\d{3})?")


def _failovers(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The failed attempts: ``failovers`` when the engine gives them, else parsed from the
    ``failures`` strings ("backend/key 429")."""
    found = record.get("failovers")
    if isinstance(found, list):
        return [f for f in found if isinstance(f, Mapping)]  # type: ignore[misc]
    out: list[dict[str, Any]] = []
    for text in record.get("failures") or ():
        m = _FAILURE.match(str(text))
        if m:
            status = m.group("status")
            out.append(
                {
                    "attempt": m.group("attempt"),
                    "status": int(status) if status else None,
                    "reason": str(text)[m.end() :].strip() or None,
                }
            )
    return out


def error_type(record: Mapping[str, Any], status: int | None) -> str | None:
    """``error.type``: the error kind crosswire gave the app (``rate_limit_error``…), else the
    HTTP status class the app got, else ``_OTHER`` for a stream that ended in an error."""
    err = record.get("error")
    if isinstance(err, Mapping) and err.get("type"):
        return str(err["type"])
    if status is not None and status >= 400:
        return str(status)
    if record.get("finish") == "error" or err:
        return "_OTHER"
    return None


class Scrubber:
    """Replaces any configured secret inside a string value (a last line of defence: the
    record is secret-free by contract)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def __call__(self, value: AttrValue) -> AttrValue:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, "<redacted>")
            return value
        if isinstance(value, list):
            return [str(self(v)) for v in value]
        return value


def exchange(
    record: Mapping[str, Any],
    *,
    start: float,
    end: float,
    status: int | None = None,
    backend_url: str | None = None,
    app_host: str | None = None,
    scrub: Scrubber | None = None,
) -> Exchange | None:
    """The span and metric points for one finished flow, or None when it is not a GenAI call.

    ``start``/``end`` (epoch seconds) and ``status`` come from the flow when the record lacks
    them; ``backend_url`` is the serving backend's ``base_url`` (``server.address``).
    """
    mode = record.get("mode")
    if mode not in EXPORTED_MODES:
        return None
    scrub = scrub or Scrubber()
    app_protocol = str(record.get("client_protocol") or "")
    backend_protocol = str(record.get("backend_protocol") or app_protocol)
    server = endpoint_of(backend_url)
    operation = OPERATION.get(backend_protocol, "chat")
    gen_provider = provider(backend_protocol, server.host if server else None)
    model = record.get("model_out") or record.get("model_in")
    status = _int(record.get("status")) or status
    started = _float(record.get("started"))
    if started is not None and started > 1e9:  # an epoch (older records held a monotonic)
        start = started
    duration = _float(record.get("duration_s"))
    if duration is not None:
        end = start + duration
    end = max(end, start)
    attrs: Attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": gen_provider,
        "gen_ai.system": gen_provider,
        "crosswire.mode": str(mode),
        "crosswire.app.protocol": app_protocol,
        "crosswire.app.provider": provider(app_protocol, app_host),
        "crosswire.backend.protocol": backend_protocol,
    }
    optional: dict[str, Any] = {
        "gen_ai.request.model": model,
        "gen_ai.response.model": record.get("response_model"),
        "crosswire.app.model": record.get("model_in"),
        "crosswire.app.host": app_host,
        "crosswire.route": record.get("route"),
        "crosswire.backend.name": record.get("backend"),
        "crosswire.key.name": record.get("key"),
        "crosswire.client.name": record.get("client"),
        "server.address": server.host if server else None,
        "server.port": server.port if server else None,
        "http.response.status_code": status,
    }
    attrs.update({k: v for k, v in optional.items() if v not in (None, "")})
    ttfc = None  # a first chunk only means something for a stream
    if record.get("stream"):
        attrs["gen_ai.request.stream"] = True
        ttfc = _float(record.get("ttfb_s"))
        if ttfc is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = ttfc
    usage = record.get("usage")
    tokens_in = tokens_out = None
    if isinstance(usage, Mapping):
        tokens_in, tokens_out = _int(usage.get("input")), _int(usage.get("output"))
        for key, name in (
            ("input", "gen_ai.usage.input_tokens"),
            ("output", "gen_ai.usage.output_tokens"),
            ("cached", "gen_ai.usage.cache_read.input_tokens"),
            ("cache_write", "gen_ai.usage.cache_creation.input_tokens"),
            ("reasoning", "gen_ai.usage.reasoning.output_tokens"),
        ):
            count = _int(usage.get(key))
            if count is not None:
                attrs[name] = count
        if usage.get("estimated"):
            attrs["crosswire.usage.estimated"] = True
    if record.get("finish"):
        attrs["gen_ai.response.finish_reasons"] = [str(record["finish"])]
    attempts = [str(a) for a in record.get("attempts") or ()]
    if attempts:
        attrs["crosswire.attempts"] = attempts
    failed = _failovers(record)
    attrs["crosswire.failover.count"] = len(failed)
    notes = [
        f"{n.get('action')} {n.get('field')}"
        for n in record.get("notes") or ()
        if isinstance(n, Mapping)
    ]
    if notes:
        attrs["crosswire.notes"] = notes
    err = error_type(record, status)
    if err:
        attrs["error.type"] = err
    events = []
    for f in failed:
        ev: Attributes = {"crosswire.attempt": str(f.get("attempt") or "")}
        if _int(f.get("status")) is not None:
            ev["http.response.status_code"] = int(f["status"])
        if f.get("reason"):
            ev["crosswire.failover.reason"] = str(f["reason"])
        events.append(Event("crosswire.failover", _float(f.get("at")), _scrubbed(ev, scrub)))
    metric_attrs: Attributes = {
        k: attrs[k]
        for k in (
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "server.address",
            "server.port",
            "crosswire.app.protocol",
            "crosswire.route",
            "crosswire.backend.name",
            "crosswire.key.name",
        )
        if k in attrs
    }
    return Exchange(
        name=f"{operation} {model}" if model else operation,
        start=start,
        end=end,
        attributes=_scrubbed(attrs, scrub),
        events=events,
        error=err,
        metric_attributes=_scrubbed(metric_attrs, scrub),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        time_to_first_chunk=ttfc,
    )


def _scrubbed(attrs: Attributes, scrub: Scrubber) -> Attributes:
    return {k: scrub(v) for k, v in attrs.items()}
