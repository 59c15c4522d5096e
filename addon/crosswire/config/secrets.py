"""``${VAR}`` references: where secrets come from, and which variables hold them.

Secrets are resolved here and only here. A reference to a missing variable is an error at
start (never an empty key sent upstream); ``${VAR:-default}`` gives a fallback. The names of
the variables that hold secrets are known too: ``crosswire exec`` keeps them from the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from crosswire.config.errors import ConfigError
from crosswire.config.models import FileConfig, KeyConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")

#: Turns a message into a located ``file:line: field: message`` one.
Locate = Callable[[str], str]


def expand(value: str, env: Mapping[str, str], fail: Locate, *, keep_missing: bool = False) -> str:
    """``value`` with its references replaced. ``keep_missing``: a missing variable without a
    default stays ``${VAR}`` instead of failing (a config read for its shape only)."""

    def sub(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(3)
        if var in env:
            return env[var]
        if match.group(2) is not None:
            return default or ""
        if keep_missing:
            return match.group(0)
        raise ConfigError(fail(f"environment variable {var} is not set (referenced as ${{{var}}})"))

    return _VAR.sub(sub, value)


def read_key(key: KeyConfig, env: Mapping[str, str], path: Path | None, fail: Locate) -> str:
    """The key's secret, from its variable or its file (relative to the config's directory)."""
    if key.secret is not None:
        secret = expand(key.secret, env, fail)
    else:
        assert key.secret_file is not None
        file = Path(os.path.expanduser(expand(key.secret_file, env, fail)))
        if path is not None and not file.is_absolute():
            file = path.parent / file
        try:
            secret = file.read_text().strip()
        except OSError as exc:
            raise ConfigError(fail(f"cannot read secret file {file}: {exc.strerror}")) from None
    if not secret:
        raise ConfigError(fail(f"key '{key.name}' resolves to an empty secret"))
    return secret


def referenced(value: str) -> list[str]:
    """The variable names ``value`` references."""
    return [m.group(1) for m in _VAR.finditer(value)]


def secret_variables(file: FileConfig) -> tuple[str, ...]:
    """Every variable a secret comes from: key secrets, ``keys_env``, backend headers, client
    tokens, telemetry headers. (A ``secret_file`` path or a ``base_url`` is no secret.)"""
    names: dict[str, None] = {}
    for backend in file.backends.values():
        for key in backend.keys:
            if key.secret is not None:
                names.update(dict.fromkeys(referenced(key.secret)))
        if backend.keys_env:
            names[backend.keys_env] = None
        for value in backend.headers.values():
            names.update(dict.fromkeys(referenced(value)))
    for client in file.clients:
        names.update(dict.fromkeys(referenced(client.token)))
    for value in file.telemetry.headers.values():
        names.update(dict.fromkeys(referenced(value)))
    return tuple(names)
