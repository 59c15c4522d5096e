"""The strategy's order of a backend's keys: round-robin rotation, least-busy (the store ranks
by in-flight leases), or smooth weighted round robin; a failover shuffles the remaining keys so
that many clients failing over at once spread out instead of landing on one key."""

from __future__ import annotations

import random
from collections.abc import Sequence

from crosswire.pool.model import BackendSpec
from crosswire.pool.store import Candidate


class Rotation:
    """Per backend: the round-robin position and the smooth weighted round robin's weights."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._rr: dict[str, int] = {}
        self._smooth: dict[str, dict[str, float]] = {}

    def configure(self, spec: BackendSpec) -> None:
        """A (re)loaded backend: rotation starts at a random key; removed keys are forgotten."""
        self._rr.setdefault(spec.name, self.rng.randrange(1 << 16))
        names = {k.name for k in spec.keys}
        smooth = self._smooth.setdefault(spec.name, {})
        for name in [n for n in smooth if n not in names]:
            del smooth[name]

    def chose(self, spec: BackendSpec, name: str, cands: Sequence[Candidate]) -> None:
        """The store leased ``name``: weighted round robin charges it the total weight."""
        if spec.strategy == "weighted":
            smooth = self._smooth[spec.name]
            smooth[name] = smooth.get(name, 0.0) - sum(c.spec.weight for c in cands)

    def order(
        self, spec: BackendSpec, cands: tuple[Candidate, ...], failover: bool
    ) -> Sequence[Candidate]:
        """The order the store tries ``cands`` in (the sticky key is put first by the store)."""
        n = len(cands)
        if n < 2:
            return cands
        if spec.strategy == "weighted":
            current = self._smooth[spec.name]
            total = sum(c.spec.weight for c in cands)
            for c in cands:
                current[c.spec.name] = min(total, current.get(c.spec.name, 0.0) + c.spec.weight)
            return sorted(cands, key=lambda c: -current[c.spec.name])
        if failover:  # spread a failover wave over the remaining keys
            order = list(cands)
            self.rng.shuffle(order)
            return order
        start = self._rr[spec.name] % n
        self._rr[spec.name] += 1
        return cands[start:] + cands[:start] if start else cands
