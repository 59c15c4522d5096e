"""Plain values of the pool: what the config says about keys, and what a request gets back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Strategy = Literal["round-robin", "least-busy", "weighted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySpec:
    name: str
    secret: str = field(repr=False)
    weight: float = 1.0
    max_concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    pace_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSpec:
    name: str
    keys: tuple[KeySpec, ...]
    strategy: Strategy = "round-robin"
    max_wait: float = 5.0
    sticky: bool = True
    probe_interval: float = 60.0


@dataclass(slots=True)
class Lease:
    backend: str
    key_name: str
    secret: str = field(repr=False)
    lease_id: str = ""
    started: float = 0.0
    est_tokens: int = 0


@dataclass(frozen=True, slots=True)
class NoKey:
    backend: str
    retry_after: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input: int = 0
    output: int = 0
    cached: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a leased request. ``status`` None = no answer (connection failure);
    0 = the request was never sent (nothing to learn, nothing to count)."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    usage: TokenUsage | None = None
    route: str | None = None


@dataclass(slots=True)
class KeyState:
    """A key as ``crosswire keys`` and the metrics show it: names only, never the secret."""

    backend: str
    name: str
    in_flight: int = 0
    cooling_until: float | None = None
    cooldown_reason: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    rpm_used: int = 0
    tpm_used: int = 0
    last_status: int | None = None
