"""Why no key could serve: one sentence naming every key, its state and when it frees up.

The app sees it (in its own protocol's error shape), so it says what happened in words —
"all 3 keys of openai at their rpm budget: a until 12:00:03, …" — never a secret.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from crosswire.pool.model import BackendSpec, NoKey
from crosswire.pool.store import Refusal

#: How a refusal reads, for one key and for several.
_SINGULAR = {
    "disabled": "disabled",
    "cooling": "cooling",
    "busy": "busy",
    "rpm": "at its rpm budget",
    "tpm": "at its tpm budget",
    "limit": "at a provider limit",
    "pace": "pacing",
}
_PLURAL = {
    v: s.replace(" its ", " their ").replace(" a provider limit", " provider limits")
    for v, s in _SINGULAR.items()
}


def no_key(
    spec: BackendSpec,
    refusals: list[Refusal],
    now: float,
    exclude: Collection[str],
    waited: float,
) -> NoKey:
    times = [r.retry_at for r in refusals if r.retry_at is not None]
    retry = max(0.0, min(times) - now) if times else None
    verdicts = {r.verdict for r in refusals}
    same = len(verdicts) == 1
    parts = [describe(r, with_verdict=not same) for r in refusals]
    n = len(refusals)
    if not same:
        head = f"no key of {spec.name} is free"
    elif n > 1:
        remaining = "remaining " if exclude else ""
        head = f"all {n} {remaining}keys of {spec.name} {_PLURAL[refusals[0].verdict]}"
    else:
        which = "the last untried key" if exclude else "the only key"
        head = f"{which} of {spec.name} is {_SINGULAR[refusals[0].verdict]}"
    reason = f"{head}: {', '.join(parts)}"
    tried = [k.name for k in spec.keys if k.name in exclude]
    if tried:
        reason += f"; already tried: {', '.join(tried)}"
    if waited >= 0.05:
        reason += f" (waited {waited:.1f} s)"
    return NoKey(spec.name, retry, reason)


def describe(r: Refusal, *, with_verdict: bool) -> str:
    text = f"{r.key} {_SINGULAR.get(r.verdict, r.verdict)}" if with_verdict else r.key
    if r.retry_at is not None:
        text += f" until {time.strftime('%H:%M:%S', time.localtime(r.retry_at))}"
    if r.detail:
        text += f" ({r.detail})"
    return text
