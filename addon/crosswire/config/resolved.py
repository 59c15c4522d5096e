"""The ready-to-use config: backends with their keys' secrets, and what the secrets are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from crosswire.config.models import BackendConfig, FileConfig, RouteConfig
from crosswire.pool.model import KeySpec

#: A key with its secret resolved: exactly what the pool takes (``pool.model.KeySpec``, whose
#: repr never shows the secret).
ResolvedKey = KeySpec


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    config: BackendConfig
    keys: tuple[ResolvedKey, ...]
    #: What the engine derives from this backend's config once instead of per request (its
    #: own header fields per key and protocol); it goes with the backend when the config
    #: reloads.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def protocol(self) -> str:
        return self.config.protocol

    def limits_for(self, model: str) -> tuple[int, int | None]:
        """(default_max_tokens, max_output_tokens) for ``model``: the first matching glob wins."""
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
    #: Every resolved secret (keys, headers, client tokens): what logs and errors must not show.
    secrets: tuple[str, ...]
    #: The environment variables the secrets come from (``crosswire exec`` keeps them from the app).
    secret_vars: tuple[str, ...] = ()
    #: False for a config read for its shape only (``load(..., secrets=False)``): no key has
    #: a secret, and headers and client tokens are still ``${VAR}`` references.
    resolved: bool = True

    @property
    def routes(self) -> Sequence[RouteConfig]:
        return self.file.routes
