"""Reading a config: YAML, validation, then secret resolution — errors located at file:line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crosswire.config import secrets as secretsmod
from crosswire.config.errors import ConfigError, LocatedError, format_validation, located
from crosswire.config.models import (
    BackendConfig,
    ClientConfig,
    FileConfig,
    KeyConfig,
    TelemetryConfig,
)
from crosswire.config.resolved import Backend, Config, ResolvedKey
from crosswire.protocols.base import PROTOCOLS


def load(path: str | Path, env: Mapping[str, str] | None = None, *, secrets: bool = True) -> Config:
    """Read, validate and resolve a config file. Raises ``ConfigError`` with file:line.

    ``secrets=False`` reads the config for its shape only (listen address, routes, state): a
    secret whose variable is unset is no error then, and no secret is read."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    return parse(text, path, env, secrets=secrets)


def parse(
    text: str,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Config:
    where = str(path) if path else "<config>"
    node, data = _read_yaml(text, where)
    reader = _Reader(where, node, os.environ if env is None else env, path, secrets)
    reader.expand_urls(data)
    try:
        file = FileConfig.model_validate(data, context={"unresolved": not secrets})
    except ValidationError as exc:
        raise ConfigError(format_validation(exc, where, node, FileConfig)) from None
    except LocatedError as exc:
        raise ConfigError(located(where, node, exc.loc, str(exc))) from None
    for i, route in enumerate(file.routes):
        if route.match.protocol is not None and route.match.protocol not in PROTOCOLS:
            raise ConfigError(
                reader.locate(
                    ("routes", i, "match", "protocol"),
                    f"unknown protocol; allowed: {', '.join(PROTOCOLS)}",
                )
            )
    secret_vars = secretsmod.secret_variables(file)
    backends = {name: reader.backend(name, b) for name, b in file.backends.items()}
    if secrets:
        file = file.model_copy(
            update={
                "clients": tuple(reader.client(i, c) for i, c in enumerate(file.clients)),
                "telemetry": reader.telemetry(file.telemetry),
            }
        )
    return Config(
        path=path,
        file=file,
        backends=backends,
        secrets=tuple(s for s in reader.found if s),
        secret_vars=secret_vars,
        resolved=secrets,
    )


def _read_yaml(text: str, where: str) -> tuple[yaml.Node | None, dict[str, Any]]:
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
    return node, data


class _Reader:
    """Resolves one config's references, collecting every secret it reads (``found``)."""

    def __init__(
        self,
        where: str,
        node: yaml.Node | None,
        env: Mapping[str, str],
        path: Path | None,
        resolve: bool,
    ) -> None:
        self.where, self.node, self.env, self.path, self.resolve = where, node, env, path, resolve
        self.found: list[str] = []

    def locate(self, loc: tuple[str | int, ...], message: str) -> str:
        return located(self.where, self.node, loc, message)

    def expand(self, value: str, *loc: str | int) -> str:
        return secretsmod.expand(
            value, self.env, partial(self.locate, loc), keep_missing=not self.resolve
        )

    def expand_urls(self, data: dict[str, Any]) -> None:
        """``${VAR}`` in URLs: expanded before the URL is validated (no secret: not collected)."""
        backends = data.get("backends")
        if isinstance(backends, dict):
            for name, raw in backends.items():
                if isinstance(raw, dict) and isinstance(raw.get("base_url"), str):
                    raw["base_url"] = self.expand(raw["base_url"], "backends", name, "base_url")

    def backend(self, name: str, backend: BackendConfig) -> Backend:
        if not self.resolve:
            keys = tuple(_key(k, "") for k in backend.keys)
            return Backend(name=name, config=backend, keys=keys)
        resolved = []
        for i, key in enumerate(backend.keys):
            field = "secret" if key.secret is not None else "secret_file"
            secret = secretsmod.read_key(
                key, self.env, self.path, partial(self.locate, ("backends", name, "keys", i, field))
            )
            self.found.append(secret)
            resolved.append(_key(key, secret))
        if backend.keys_env:
            listed = (s.strip() for s in self.env.get(backend.keys_env, "").split(","))
            for j, secret in enumerate(listed):
                if secret:
                    self.found.append(secret)
                    name_j = f"{backend.keys_env.lower()}-{j + 1}"
                    resolved.append(ResolvedKey(name=name_j, secret=secret))
        headers = {
            header: self.expand(value, "backends", name, "headers", header)
            for header, value in backend.headers.items()
        }
        if headers != backend.headers:
            backend = backend.model_copy(update={"headers": headers})
        return Backend(name=name, config=backend, keys=tuple(resolved))

    def client(self, i: int, client: ClientConfig) -> ClientConfig:
        token = self.expand(client.token, "clients", i, "token")
        self.found.append(token)
        return client.model_copy(update={"token": token})

    def telemetry(self, telemetry: TelemetryConfig) -> TelemetryConfig:
        if not telemetry.headers:
            return telemetry
        headers = {
            name: self.expand(value, "telemetry", "headers", name)
            for name, value in telemetry.headers.items()
        }
        self.found.extend(headers.values())
        return telemetry.model_copy(update={"headers": headers})


def _key(key: KeyConfig, secret: str) -> ResolvedKey:
    limits = key.model_dump(include={"weight", "max_concurrency", "rpm", "tpm", "pace_ms"})
    return ResolvedKey(name=key.name, secret=secret, **limits)
