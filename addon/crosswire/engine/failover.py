"""A flight's attempts: failures remembered and taught to the pool, the next candidate chosen.

The attempts themselves are mitmproxy's (``layer_retry`` sends the request again on its own
connection); this keeps their account: each failed attempt goes into the flow's record and its
lease back to the pool with what the answer taught (a cooldown, a disabled key), and no more
than ``failover_attempts`` are made.
"""

from __future__ import annotations

from collections.abc import Mapping

from crosswire.engine.keeper import Keeper
from crosswire.engine.planner import Candidate, Planner
from crosswire.engine.record import Failure, Record


class Failover:
    def __init__(self, planner: Planner, record: Record, keeper: Keeper, max_attempts: int) -> None:
        self.planner = planner
        self.record = record
        self.keeper = keeper
        self.max_attempts = max_attempts
        self.tried = 1  # the first candidate is being tried

    async def failed(
        self,
        candidate: Candidate,
        status: int | None,
        headers: Mapping[str, str],
        body: bytes,
        reason: str = "",
        *,
        local: bool = False,
    ) -> None:
        """An attempt did not serve: remember it, and give its key back with the lesson —
        none when the failure may be ours (``local``: a connect timeout on a busy loop)."""
        self.record.failures.append(Failure(candidate.label, status, reason))
        self.keeper.release(
            candidate.lease, 0 if local else status, self.record.route, headers=headers, body=body
        )
        candidate.lease = None

    async def next(self) -> Candidate | None:
        """The next candidate (its key leased), or None when the attempts are spent."""
        if self.tried >= self.max_attempts:
            return None
        candidate = await self.planner.next()
        if candidate is not None:
            self.tried += 1
        return candidate
