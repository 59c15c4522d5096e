"""The YAML config: pydantic models (``models``), ``${VAR}`` secrets (``secrets``), reading and
resolving a file (``load``), and errors that point at file:line (``errors``).

Why the care with errors: the config is the product's user interface. An error names the file,
the line and the field and says what is allowed; a secret reference to a missing variable is an
error at start (never an empty key sent upstream). Secrets are resolved in ``secrets`` and only
there; nothing in this package ever formats a secret into a message.
"""

from __future__ import annotations

from crosswire.config.errors import ConfigError
from crosswire.config.load import load, parse
from crosswire.config.models import (
    BackendConfig,
    BackendProtocol,
    ClientConfig,
    FileConfig,
    KeyConfig,
    LimitsConfig,
    MatchConfig,
    ModelLimits,
    RouteConfig,
    Strategy,
    TelemetryConfig,
)
from crosswire.config.resolved import Backend, Config, ResolvedKey

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendProtocol",
    "ClientConfig",
    "Config",
    "ConfigError",
    "FileConfig",
    "KeyConfig",
    "LimitsConfig",
    "MatchConfig",
    "ModelLimits",
    "ResolvedKey",
    "RouteConfig",
    "Strategy",
    "TelemetryConfig",
    "load",
    "parse",
]
