"""The config file's schema: what each field means, its default, and what is allowed.

Models are frozen and refuse unknown fields, so a typo is an error naming the allowed fields
(``errors``) instead of a silently ignored setting. Secrets here are still ``${VAR}``
references; ``load`` resolves them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crosswire.config.errors import LocatedError
from crosswire.protocols.base import PROTOCOLS

#: ``auto``: whatever the app speaks (inspection mode); else one wire protocol (``PROTOCOLS``).
BackendProtocol = str
Strategy = Literal["round-robin", "least-busy", "weighted"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyConfig(_Model):
    """One account's key. ``secret`` is usually ``${VAR}``; ``secret_file`` reads a file."""

    name: str
    secret: str | None = None
    secret_file: str | None = None
    weight: float = Field(default=1.0, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    pace_ms: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> KeyConfig:
        if (self.secret is None) == (self.secret_file is None):
            raise ValueError("give exactly one of 'secret' (e.g. \"${MY_KEY}\") or 'secret_file'")
        return self


class ModelLimits(_Model):
    max_output_tokens: int | None = Field(default=None, ge=1)
    default_max_tokens: int | None = Field(default=None, ge=1)


class BackendConfig(_Model):
    """Where requests go and how they authenticate."""

    protocol: BackendProtocol
    base_url: str
    dialect: str | None = None
    api_version: str | None = None
    #: anthropic-version sent when converting to this backend (default 2026-10-21).
    anthropic_version: str | None = None
    strategy: Strategy = "round-robin"
    keys: tuple[KeyConfig, ...] = ()
    #: Zero-config pooling: an environment variable holding comma-separated secrets.
    keys_env: str | None = None
    #: Without keys, forward the app's own credential (inspection mode).
    client_auth: bool = False
    default_max_tokens: int = Field(default=4096, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    #: Per-model limits by glob: {"deepseek-*": {max_output_tokens: 8192}}.
    models: dict[str, ModelLimits] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    max_wait: float = Field(default=5.0, ge=0)
    sticky: bool = True
    #: Seconds between probes of a disabled key (a cheap model-list call with it).
    probe_interval: float = Field(default=60.0, gt=0)
    #: Seconds for writing the request (and the default ``read_timeout``).
    timeout: float = Field(default=600.0, gt=0)
    #: Seconds to open a connection to the upstream (TCP and TLS). Generous on purpose: a busy
    #: event loop (a burst of TLS handshakes) must not fail an attempt by itself, and a connect
    #: timeout does not cool the key (it may be ours, not the provider's).
    connect_timeout: float = Field(default=30.0, gt=0)
    #: Seconds the upstream may stay silent: before its answer's headers (a whole answer comes
    #: only once generated) and between two chunks of a stream. Default: ``timeout``.
    read_timeout: float | None = Field(default=None, gt=0)

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) in seconds."""
        return self.connect_timeout, self.read_timeout or self.timeout

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value != "auto" and value not in PROTOCOLS:
            raise ValueError(f"unknown protocol {value!r}; allowed: auto, {', '.join(PROTOCOLS)}")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("unresolved") and "${" in value:
            return value  # read for its shape only: the variable is unset
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.openai.com/v1")
        return value.rstrip("/")

    @field_validator("keys")
    @classmethod
    def _unique_names(cls, keys: tuple[KeyConfig, ...]) -> tuple[KeyConfig, ...]:
        names = [k.name for k in keys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"key names must be unique within a backend; repeated: {', '.join(dupes)}"
            )
        return keys


class MatchConfig(_Model):
    """All given fields must match; globs allowed (``*.openai.azure.com``, ``gpt-4*``)."""

    host: str | None = None
    path: str | None = None
    model: str | None = None
    protocol: str | None = None


class RouteConfig(_Model):
    match: MatchConfig = Field(default_factory=MatchConfig)
    backend: str | tuple[str, ...]
    model: str | None = None

    @property
    def backends(self) -> tuple[str, ...]:
        return (self.backend,) if isinstance(self.backend, str) else self.backend


class ClientConfig(_Model):
    """An app allowed to use the proxy (issue: client access). ``token`` is usually ``${VAR}``."""

    name: str
    token: str
    routes: tuple[int, ...] | None = None
    max_requests: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)


class TelemetryConfig(_Model):
    """OpenTelemetry export (docs/observability.md); off unless an endpoint is named here or in
    the standard ``OTEL_EXPORTER_OTLP_*`` variables."""

    enabled: bool = True
    #: OTLP/HTTP base URL; ``/v1/traces`` and ``/v1/metrics`` are appended.
    endpoint: str | None = None
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    #: Else ``$OTEL_SERVICE_NAME``, else "crosswire".
    service_name: str | None = None
    #: Sent with every export (e.g. an auth header: ``${VAR}`` references, like key secrets).
    headers: dict[str, str] = Field(default_factory=dict)
    traces: bool = True
    metrics: bool = True
    metric_interval: float | None = Field(default=None, gt=0)
    timeout: float = Field(default=5.0, gt=0)
    resource: dict[str, str] = Field(default_factory=dict)


class LimitsConfig(_Model):
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    store_stream_bytes: int = Field(default=4 * 1024 * 1024, ge=0)


class FileConfig(_Model):
    listen: str = "127.0.0.1:8080"
    state: str = "memory"
    backends: dict[str, BackendConfig] = Field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    clients: tuple[ClientConfig, ...] = ()
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    metrics_host: str = "crosswire.local"
    #: on: when another key or backend could serve, an attempt that fails before the app saw a
    #: byte (429, 401/403, 5xx, 529, no connection) is retried on the next, transparently to every
    #: app; off: one attempt. (``relay`` and ``always`` are the older spellings of ``on``.)
    failover: Literal["on", "off", "relay", "always"] = "on"
    failover_attempts: int = Field(default=4, ge=1, le=16)
    #: Seconds a streamed answer may stay silent before the app gets its protocol's keep-alive
    #: (Anthropic ping, SSE comment); 0: never.
    keepalive: float = Field(default=15.0, ge=0)
    #: On SIGTERM: seconds in-flight requests get to finish before the proxy exits.
    drain_timeout: float = Field(default=30.0, ge=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be 'memory' or a redis:// URL, e.g. redis://127.0.0.1:6379/0")
        return value

    @model_validator(mode="after")
    def _routes_name_backends(self) -> FileConfig:
        for i, route in enumerate(self.routes):
            for name in route.backends:
                if name not in self.backends:
                    known = ", ".join(sorted(self.backends)) or "none defined"
                    raise LocatedError(
                        ("routes", i, "backend"),
                        f"unknown backend '{name}' (backends: {known})",
                    )
        return self
