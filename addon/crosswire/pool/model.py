"""Plain values of the pool: what the config says about keys, and what a request gets back.

No pydantic here: the addon builds these from its validated config. Nothing in this module
ever shows a secret in its ``repr`` (``KeySpec.secret`` and ``Lease.secret`` are hidden).
"""

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
    #: Requests per sliding 60 s window, enforced before sending.
    rpm: int | None = None
    #: Tokens per sliding 60 s window: ``est_tokens`` at acquire, corrected by real usage.
    tpm: int | None = None
    #: Minimum gap between two request starts on this key.
    pace_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSpec:
    name: str
    keys: tuple[KeySpec, ...]
    strategy: Strategy = "round-robin"
    #: Seconds a request may wait for a free slot (busy keys, budgets that free up soon).
    max_wait: float = 5.0
    sticky: bool = True
    #: Seconds between probes of a disabled key.
    probe_interval: float = 60.0


@dataclass(slots=True)
class Lease:
    backend: str
    key_name: str
    secret: str = field(repr=False)
    lease_id: str = ""
    started: float = 0.0
    est_tokens: int = 0
    #: Granted by this process's fallback store while the shared store was unreachable.
    local: bool = False


@dataclass(frozen=True, slots=True)
class NoKey:
    """No key may serve now. ``retry_after``: seconds until one is expected to be usable, None
    when unknown (every key disabled, or busy with no known end)."""

    backend: str
    retry_after: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input: int = 0
    output: int = 0
    cached: int = 0


@dataclass(slots=True)
class Outcome:
    """What happened to a leased request.

    ``status`` None = no answer (connection failure, timeout); 0 = the request was never sent
    (its rpm/tpm reservation is given back, nothing is counted or learnt). ``headers`` have
    lower-case names. ``body`` is the error body (tells a quota from a rate limit).
    """

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    usage: TokenUsage | None = None
    route: str | None = None


#: Upper bounds (seconds) of the request-duration histogram (Prometheus ``le`` labels).
LATENCY_BUCKETS: tuple[float, ...] = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(slots=True)
class KeyState:
    """A key as ``crosswire keys``, the metrics and ``/keys`` show it: names only, never the
    secret. ``cooling_until`` is an epoch (a learnt limit that blocks the key counts too)."""

    backend: str
    name: str
    in_flight: int = 0
    max_concurrency: int | None = None
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
    rpm_limit: int | None = None
    tpm_used: int = 0
    tpm_limit: int | None = None
    #: What the provider's rate-limit headers say is left now (None = never told).
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    last_status: int | None = None
    #: Request durations (lease to release, so a stream's whole length): sum, count, and
    #: cumulative counts per ``LATENCY_BUCKETS`` bound.
    latency_sum: float = 0.0
    latency_count: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))


@dataclass(slots=True)
class RouteUsage:
    """Usage of one route on one backend (a route with a fallback chain has several)."""

    route: str
    backend: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
