"""The YAML config: pydantic models, ``${VAR}`` secrets, and errors that point at file:line.

Why the care with errors: the config is the product's user interface. An error names the file,
the line and the field and says what is allowed; a secret reference to a missing variable is an
error at start (never an empty key sent upstream). Secrets are resolved here and only here;
nothing in this module ever formats a secret into a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crosswire.protocols.base import PROTOCOLS

BackendProtocol = Literal[
    "auto",
    "openai-chat",
    "openai-responses",
    "anthropic",
    "gemini",
    "fim",
    "openai-completions",
    "ollama",
]
Strategy = Literal["round-robin", "least-busy", "weighted"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")


class ConfigError(Exception):
    """An invalid config; the message is ready to show (file:line: field: what is allowed)."""


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
    timeout: float = Field(default=600.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
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
    #: relay: when another key or backend could serve, requests go through the failover relay
    #: (retries before the first byte, transparent to every app); always: every routed request
    #: does (also an unreachable single backend answers in the app's error shape); off: one attempt.
    failover: Literal["relay", "always", "off"] = "relay"
    failover_attempts: int = Field(default=4, ge=1, le=16)

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
                    raise _LocatedError(
                        ("routes", i, "backend"),
                        f"unknown backend '{name}' (backends: {known})",
                    )
        return self


class _LocatedError(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


# ---- resolved, ready-to-use config ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    name: str
    secret: str = ""
    weight: float = 1.0
    max_concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    pace_ms: int | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"ResolvedKey(name={self.name!r})"


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    config: BackendConfig
    keys: tuple[ResolvedKey, ...]

    @property
    def protocol(self) -> str:
        return self.config.protocol

    def limits_for(self, model: str) -> tuple[int, int | None]:
        """(default_max_tokens, max_output_tokens) for ``model``: the first matching glob wins."""
        from fnmatch import fnmatchcase

        default, ceiling = self.config.default_max_tokens, self.config.max_output_tokens
        for pattern, limits in self.config.models.items():
            if fnmatchcase(model, pattern):
                default = limits.default_max_tokens or default
                ceiling = limits.max_output_tokens or ceiling
                break
        if ceiling is not None:
            default = min(default, ceiling)
        return default, ceiling


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    file: FileConfig
    backends: Mapping[str, Backend]
    secrets: tuple[str, ...]

    @property
    def routes(self) -> Sequence[RouteConfig]:
        return self.file.routes


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve a config file. Raises ``ConfigError`` with file:line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    return parse(text, path, env)


def parse(text: str, path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    where = str(path) if path else "<config>"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}{line}: invalid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}:1: the config must be a mapping (listen:, backends:, routes: …)"
        )
    backends_raw = data.get("backends")
    if isinstance(backends_raw, dict):  # ${VAR} in URLs: expanded before the URL is validated
        for name, raw in backends_raw.items():
            if isinstance(raw, dict) and isinstance(raw.get("base_url"), str):
                raw["base_url"] = _expand(
                    raw["base_url"],
                    env,
                    lambda msg, n=name: _located(where, node, ("backends", n, "base_url"), msg),
                )
    try:
        file = FileConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, where, node)) from None
    except _LocatedError as exc:
        raise ConfigError(_located(where, node, exc.loc, str(exc))) from None
    secrets: list[str] = []
    backends: dict[str, Backend] = {}
    for name, backend in file.backends.items():
        keys = []
        for i, key in enumerate(backend.keys):
            loc = (
                "backends",
                name,
                "keys",
                i,
                "secret" if key.secret is not None else "secret_file",
            )
            secret = _resolve_key(
                key, env, path, lambda msg, loc=loc: _located(where, node, loc, msg)
            )
            secrets.append(secret)
            keys.append(
                ResolvedKey(
                    name=key.name,
                    secret=secret,
                    weight=key.weight,
                    max_concurrency=key.max_concurrency,
                    rpm=key.rpm,
                    tpm=key.tpm,
                    pace_ms=key.pace_ms,
                )
            )
        if backend.keys_env:
            for j, secret in enumerate(s.strip() for s in env.get(backend.keys_env, "").split(",")):
                if secret:
                    secrets.append(secret)
                    keys.append(
                        ResolvedKey(name=f"{backend.keys_env.lower()}-{j + 1}", secret=secret)
                    )
        headers = {}
        for header, value in backend.headers.items():
            headers[header] = _expand(
                value,
                env,
                lambda msg, h=header, n=name: _located(
                    where, node, ("backends", n, "headers", h), msg
                ),
            )
        if headers != backend.headers:
            backend = backend.model_copy(update={"headers": headers})
        backends[name] = Backend(name=name, config=backend, keys=tuple(keys))
    clients = []
    for i, client in enumerate(file.clients):
        token = _expand(
            client.token, env, lambda msg, i=i: _located(where, node, ("clients", i, "token"), msg)
        )
        secrets.append(token)
        clients.append(client.model_copy(update={"token": token}))
    if clients:
        file = file.model_copy(update={"clients": tuple(clients)})
    if file.telemetry.headers:
        resolved = {
            name: _expand(
                value,
                env,
                lambda msg, h=name: _located(where, node, ("telemetry", "headers", h), msg),
            )
            for name, value in file.telemetry.headers.items()
        }
        secrets.extend(resolved.values())
        file = file.model_copy(
            update={"telemetry": file.telemetry.model_copy(update={"headers": resolved})}
        )
    for i, route in enumerate(file.routes):
        if route.match.protocol is not None and route.match.protocol not in PROTOCOLS:
            raise ConfigError(
                _located(
                    where,
                    node,
                    ("routes", i, "match", "protocol"),
                    f"unknown protocol; allowed: {', '.join(PROTOCOLS)}",
                )
            )
    return Config(path=path, file=file, backends=backends, secrets=tuple(s for s in secrets if s))


def _resolve_key(key: KeyConfig, env: Mapping[str, str], path: Path | None, fail: Any) -> str:
    if key.secret is not None:
        secret = _expand(key.secret, env, fail)
    else:
        assert key.secret_file is not None
        file = Path(os.path.expanduser(_expand(key.secret_file, env, fail)))
        if path is not None and not file.is_absolute():
            file = path.parent / file
        try:
            secret = file.read_text().strip()
        except OSError as exc:
            raise ConfigError(fail(f"cannot read secret file {file}: {exc.strerror}")) from None
    if not secret:
        raise ConfigError(fail(f"key '{key.name}' resolves to an empty secret"))
    return secret


def _expand(value: str, env: Mapping[str, str], fail: Any) -> str:
    def sub(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(3)
        if var in env:
            return env[var]
        if match.group(2) is not None:
            return default or ""
        raise ConfigError(fail(f"environment variable {var} is not set (referenced as ${{{var}}})"))

    return _VAR.sub(sub, value)


def _format_validation(exc: ValidationError, where: str, node: yaml.Node | None) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x in _UNION_TAGS))
        message = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _LocatedError):
            loc, message = ctx_error.loc, str(ctx_error)
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            message = f"unknown field; allowed here: {_allowed_fields(loc)}"
        elif err["type"] == "literal_error":
            message = f"{message} (got {err.get('input')!r})"
        lines.append(_located(where, node, loc, message))
    return "\n".join(lines)


_UNION_TAGS = {"str", "tuple[str, ...]", "function-after[_one_source(), KeyConfig]"}


def _allowed_fields(loc: tuple[Any, ...]) -> str:
    """The field names allowed at ``loc`` (which ends at the unknown field)."""
    current: Any = FileConfig
    for part in loc[:-1]:
        current = _step(current, part)
        if current is None:
            return "see config/crosswire.yaml"
    if isinstance(current, type) and issubclass(current, BaseModel):
        return ", ".join(current.model_fields)
    return "see config/crosswire.yaml"


def _step(annotation: Any, part: str | int) -> Any:
    """The type one step into ``annotation`` (a model field, a dict value, a tuple item)."""
    for candidate in _walk_types(annotation):
        if (
            isinstance(candidate, type)
            and issubclass(candidate, BaseModel)
            and isinstance(part, str)
            and part in candidate.model_fields
        ):
            return candidate.model_fields[part].annotation
        origin = get_origin(candidate)
        args = get_args(candidate)
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
        if origin is tuple and isinstance(part, int) and args:
            return args[0]
    return None


def _walk_types(annotation: Any) -> Iterator[Any]:
    yield annotation
    if get_origin(annotation) in (dict, tuple):
        return
    for arg in get_args(annotation):
        yield from _walk_types(arg)


def _located(where: str, node: yaml.Node | None, loc: Sequence[str | int], message: str) -> str:
    line = _line_of(node, loc)
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    return f"{where}:{line}: {field or '<top>'}: {message}"


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """The 1-based line of the deepest YAML node along ``loc`` (the key's line for mappings)."""
    line = (node.start_mark.line + 1) if node is not None else 1
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    current = value_node
                    break
            else:
                return line
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and part < len(current.value)
        ):
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            return line
    return line
