"""One key's state in the memory store, and how it reads as a ``KeyState``.

The sliding rpm/tpm windows are deques trimmed as time passes; leases carry their expiry so a
lease the addon never released lapses (``expire``).
"""

from __future__ import annotations

import math
from collections import deque
from itertools import accumulate

from crosswire.pool.buckets import Bucket
from crosswire.pool.model import LATENCY_BUCKETS, KeySpec, KeyState
from crosswire.pool.store import bucket_view

#: The rpm and tpm windows (seconds).
WINDOW = 60.0


class TokenReservation:
    """A tpm reservation: corrected to the real usage when its request ends."""

    __slots__ = ("at", "lease", "n")

    def __init__(self, at: float, lease: str, n: float) -> None:
        self.at, self.lease, self.n = at, lease, n


class KeyRecord:
    """One key's state in this process: leases, budget windows, health, usage counters."""

    __slots__ = (
        "buckets",
        "cached_tokens",
        "cooldown_reason",
        "cooling_until",
        "disabled",
        "disabled_reason",
        "errors",
        "fp",
        "input_tokens",
        "last_start",
        "last_status",
        "lat_buckets",
        "lat_count",
        "lat_sum",
        "leases",
        "next_expiry",
        "output_tokens",
        "requests",
        "starts",
        "streak",
        "tok_by_lease",
        "tok_sum",
        "toks",
    )

    def __init__(self) -> None:
        self.fp = ""
        self.leases: dict[str, float] = {}  # lease id -> expiry
        self.next_expiry = math.inf  # no lease expires before this
        self.starts: deque[tuple[float, str]] = deque()  # rpm window: (start, lease id)
        self.toks: deque[TokenReservation] = deque()  # tpm window
        self.tok_by_lease: dict[str, TokenReservation] = {}
        self.tok_sum = 0.0
        self.last_start = -math.inf
        self.disabled = False
        self.disabled_reason: str | None = None
        self.cooling_until = 0.0
        self.cooldown_reason: str | None = None
        self.streak = 0
        self.buckets: dict[str, Bucket] = {}
        self.requests = self.errors = 0
        self.input_tokens = self.output_tokens = self.cached_tokens = 0
        self.last_status: int | None = None
        self.lat_sum = 0.0
        self.lat_count = 0
        self.lat_buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def reset_health(self) -> None:
        """Forget everything learnt about the key's health (its secret changed, or a probe
        succeeded); usage counters stay."""
        self.disabled = False
        self.disabled_reason = None
        self.cooling_until = 0.0
        self.cooldown_reason = None
        self.streak = 0
        self.buckets = {}

    def expire(self, now: float) -> None:
        if self.next_expiry <= now:
            for lid in [lid for lid, exp in self.leases.items() if exp <= now]:
                del self.leases[lid]
            self.next_expiry = min(self.leases.values(), default=math.inf)
        starts = self.starts
        while starts and starts[0][0] <= now - WINDOW:
            starts.popleft()
        toks = self.toks
        while toks and toks[0].at <= now - WINDOW:
            tok = toks.popleft()
            self.tok_sum -= tok.n
            self.tok_by_lease.pop(tok.lease, None)


def snapshot(k: KeyRecord, backend: str, spec: KeySpec, now: float) -> KeyState:
    """What ``crosswire keys``, /metrics and the e2e tests see of one key."""
    k.expire(now)
    req, tok, cooling, reason = bucket_view(
        k.buckets.values(), now, k.cooling_until, k.cooldown_reason
    )
    return KeyState(
        backend=backend,
        name=spec.name,
        in_flight=len(k.leases),
        max_concurrency=spec.max_concurrency,
        cooling_until=cooling,
        cooldown_reason=reason,
        rpm_used=len(k.starts),
        rpm_limit=spec.rpm,
        tpm_used=round(k.tok_sum),
        tpm_limit=spec.tpm,
        remaining_requests=req,
        remaining_tokens=tok,
        latency_sum=k.lat_sum,
        latency_count=k.lat_count,
        latency_buckets=list(accumulate(k.lat_buckets[:-1])),
        **{name: getattr(k, name) for name in _COUNTED},
    )


#: What a key's record and its state call alike: copied as they are.
_COUNTED = (
    "disabled",
    "disabled_reason",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "last_status",
)
