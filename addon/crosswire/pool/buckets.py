"""Limits the providers announce in their answers' headers, as refilling buckets.

Providers announce their limits before they refuse, as token buckets that refill steadily:

* OpenAI ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``; the reset is a duration
  (``6m0s``, ``1s``, ``20ms``) until the bucket is *full* again — with limit 5000 and 4999
  left it is ``12ms`` (= 1 × 60 s / 5000): a steady refill.
  https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers
* Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
  remaining,reset}``; the reset is an RFC 3339 time, "continuously replenished".
  https://docs.anthropic.com/en/api/rate-limits#response-headers
* Mistral ``x-ratelimit-{limit,remaining}-{req,tokens}-{minute,10-second,month,…}``: no
  reset, the window is in the name.
* Everyone ``retry-after`` (seconds or an HTTP date), the Stainless SDKs' ``retry-after-ms``.

Each header family becomes a :class:`Bucket` (what was left, how fast it refills, up to what):
a key is refused *before sending* when a bucket cannot cover the request, until the moment it
will — that is what "cool a key before it is refused, until its reset" means for a bucket
that refills steadily (waiting for the full reset would idle a key that has room again after
12 ms). Acquires draw from the bucket, so concurrent requests do not all rush one key.
"""

from __future__ import annotations

import email.utils
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

#: How long an exhausted quota cools when the answer does not say when it comes back.
QUOTA_COOLDOWN = 3600.0

Need = Literal["req", "tok", "one"]


@dataclass(frozen=True, slots=True)
class Family:
    """One rate-limit header family and how a request draws from it."""

    id: str
    remaining: str
    limit: str | None
    reset: str | None
    window: float | None  # seconds, when the name says it (Mistral)
    need: Need  # req: 1 per request; tok: the request's tokens; one: needs 1, draws nothing
    what: str


#: Every header family read from answers (see the module docstring for the links).
FAMILIES: tuple[Family, ...] = (
    Family(
        "req",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-limit-requests",
        "x-ratelimit-reset-requests",
        None,
        "req",
        "requests",
    ),
    Family(
        "tok",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-reset-tokens",
        None,
        "tok",
        "tokens",
    ),
    Family(
        "a-req",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-reset",
        None,
        "req",
        "requests",
    ),
    Family(
        "a-tok",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-reset",
        None,
        "tok",
        "tokens",
    ),
    Family(
        "a-in",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-reset",
        None,
        "tok",
        "input tokens",
    ),
    Family(
        "a-out",
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-reset",
        None,
        "one",
        "output tokens",
    ),
    Family(
        "m-req",
        "x-ratelimit-remaining-req-minute",
        "x-ratelimit-limit-req-minute",
        None,
        60.0,
        "req",
        "requests per minute",
    ),
    Family(
        "m-req10",
        "x-ratelimit-remaining-req-10-second",
        "x-ratelimit-limit-req-10-second",
        None,
        10.0,
        "req",
        "requests per 10 s",
    ),
    Family(
        "m-tok",
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-limit-tokens-minute",
        None,
        60.0,
        "tok",
        "tokens per minute",
    ),
)

#: Limits over a day or longer: at 0 the key's quota is spent (no steady refill to wait for).
QUOTA_FAMILIES: tuple[tuple[str, str], ...] = (
    ("x-ratelimit-remaining-tokens-month", "monthly tokens"),
    ("x-ratelimit-remaining-req-day", "daily requests"),
    ("x-ratelimit-remaining-tokens-day", "daily tokens"),
)


@dataclass(slots=True)
class Bucket:
    """A provider limit as a steadily refilling bucket: ``level`` left at ``t0``, refilling at
    ``rate`` per second up to ``cap``; after ``expires`` it no longer constrains anything."""

    level: float
    t0: float
    rate: float
    cap: float
    expires: float
    need: Need
    what: str = "requests"

    def available(self, now: float) -> float:
        if now >= self.expires:
            return math.inf
        return min(self.cap, self.level + self.rate * max(0.0, now - self.t0))

    def need_for(self, est_tokens: int) -> float:
        if self.need == "tok":
            return float(min(max(1, est_tokens), self.cap))
        return 1.0

    def ready_at(self, need: float) -> float:
        """When the bucket will hold ``need``."""
        if self.rate > 0:
            return min(self.expires, self.t0 + (need - self.level) / self.rate)
        return self.expires

    def draw(self, now: float, est_tokens: int) -> None:
        """A request started: take what it needs from the bucket (in place)."""
        taken = 1.0 if self.need == "req" else float(est_tokens) if self.need == "tok" else 0.0
        self.level = self.available(now) - taken
        self.t0 = now
        if self.rate > 0 and self.cap != math.inf:
            self.expires = now + (self.cap - self.level) / self.rate

    def as_list(self) -> list[float | str]:
        """The stored form (JSON; Redis' Lua scripts read the same positions)."""
        cap = self.cap if math.isfinite(self.cap) else -1.0
        return [self.level, self.t0, self.rate, cap, self.expires, self.need, self.what]

    @classmethod
    def from_list(cls, v: list[Any]) -> Bucket:
        cap = float(v[3])
        need: Need = "tok" if v[5] == "tok" else "one" if v[5] == "one" else "req"
        return cls(
            float(v[0]),
            float(v[1]),
            float(v[2]),
            math.inf if cap < 0 else cap,
            float(v[4]),
            need,
            str(v[6]) if len(v) > 6 else "requests",
        )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=1024)
def parse_duration(value: str) -> float | None:
    """``6m0s`` / ``1.5s`` / ``20ms`` / ``13s`` / plain seconds → seconds (cached: the same
    few values come back in every answer)."""
    value = value.strip()
    if value[-1:].isdigit():
        try:
            return float(value)
        except ValueError:
            return None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def parse_reset(value: str, now: float) -> float | None:
    """An absolute time (epoch) from a duration, an RFC 3339 time or an HTTP date."""
    value = value.strip()
    seconds = parse_duration(value)
    if seconds is not None:
        return now + seconds
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait per ``retry-after-ms`` / ``retry-after``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        at = parse_reset(value, now)
        if at is not None:
            return max(0.0, at - now)
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def learn_buckets(headers: Mapping[str, str], now: float) -> tuple[tuple[str, Bucket | None], ...]:
    """Every rate-limit family the answer reports, as buckets (None: full, no constraint)."""
    out: list[tuple[str, Bucket | None]] = []
    get = headers.get
    for fam in FAMILIES:
        raw = get(fam.remaining)
        if raw is None:
            continue
        remaining = _number(raw)
        if remaining is None or remaining < 0:  # Azure's -1: "not reported"
            continue
        limit = _number(get(fam.limit)) if fam.limit else None
        if limit is not None and limit <= 0:
            limit = None
        if limit is not None and remaining >= limit:
            out.append((fam.id, None))
            continue
        reset_value = get(fam.reset) if fam.reset else None
        reset = parse_reset(reset_value, now) if reset_value else None
        rate = 0.0
        if limit is not None and reset is not None and reset > now:
            rate = (limit - remaining) / (reset - now)
        elif limit is not None and fam.window:
            rate = limit / fam.window
        if rate > 0 and limit is not None:
            expires = now + (limit - remaining) / rate
        elif reset is not None:
            expires = reset
        elif fam.window:
            expires = now + fam.window
        else:
            continue
        if expires <= now:
            out.append((fam.id, None))
            continue
        cap = limit if limit is not None else math.inf
        out.append((fam.id, Bucket(remaining, now, rate, cap, expires, fam.need, fam.what)))
    return tuple(out)


def spent_quota(headers: Mapping[str, str], now: float) -> tuple[float, str] | None:
    """A limit over a day or longer at 0: (until when to cool, why)."""
    for name, what in QUOTA_FAMILIES:
        left = _number(headers.get(name))
        if left is not None and left <= 0:
            return now + QUOTA_COOLDOWN, f"quota exhausted: {what} 0 left"
    return None
