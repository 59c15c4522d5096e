"""What an answer says about its key: limits learnt from headers, cooldowns from bodies.

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
* Everyone ``retry-after`` (seconds or an HTTP date), the Stainless SDKs' ``retry-after-ms``;
  Gemini a ``google.rpc.RetryInfo.retryDelay`` (``"48s"``) in its 429 body.
  https://ai.google.dev/gemini-api/docs/rate-limits

Each header family becomes a :class:`Bucket` (what was left, how fast it refills, up to what):
a key is refused *before sending* when a bucket cannot cover the request, until the moment it
will — that is what "cool a key before it is refused, until its reset" means for a bucket
that refills steadily (waiting for the full reset would idle a key that has room again after
12 ms). Acquires draw from the bucket, so concurrent requests do not all rush one key.

A 429 is either a short-term rate limit or an exhausted quota (billing, credit, a per-day
limit): :func:`learn` reads the body to tell them apart and cools each for as long as it
really lasts. Reasons quote the provider's error type and message, scrubbed of anything that
looks like a key.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

#: How long an exhausted quota cools when the answer does not say when it comes back.
QUOTA_COOLDOWN = 3600.0
#: A 429 with no hint: 1 s, doubling per consecutive 429 of the key, at most a minute.
RATE_LIMIT_BACKOFF = (1.0, 60.0)
#: 5xx, 529 overloaded, timeouts and connection failures: 1 s, doubling, at most 5 s.
TRANSIENT_BACKOFF = (1.0, 5.0)
#: The longest a ``retry-after`` on a transient failure is believed.
TRANSIENT_MAX = 60.0
#: Gemini's per-day quotas reset at midnight Pacific time.
#: https://ai.google.dev/gemini-api/docs/rate-limits#how-rate-limits-work
GEMINI_DAY_ZONE = "America/Los_Angeles"

Need = Literal["req", "tok", "one"]
Kind = Literal["ok", "rate_limit", "quota", "overloaded", "server", "unreachable", "auth", "client"]


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


@dataclass(slots=True)
class Lesson:
    """What one answer teaches. ``cool_until`` is explicit (before jitter); ``backoff``
    (base, cap) when no end is known: the store doubles it per consecutive failure."""

    kind: Kind
    error: bool
    cool_until: float | None = None
    backoff: tuple[float, float] | None = None
    reason: str | None = None
    disable: str | None = None
    buckets: tuple[tuple[str, Bucket | None], ...] = ()


# ---- parsing -------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TRY_AGAIN = re.compile(r"(?:try again|retry) in (\d[\d.hms]*)", re.IGNORECASE)
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_REGAIN = re.compile(r"regain access on (\d{4}-\d{2}-\d{2}) at (\d{2}:\d{2}) UTC")
_SECRETISH = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai|key|AIza)[-_][A-Za-z0-9*_\-.]{6,}|\bAIza[A-Za-z0-9_\-]{20,}"
    r"|\b(?=[A-Za-z0-9_\-*]*\d)(?=[A-Za-z0-9_\-*]*[A-Za-z])[A-Za-z0-9_\-*]{32,}"
)


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


def _body_json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_of(data: Any) -> dict[str, Any]:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Gemini's streamGenerateContent wraps errors in an array
    if not isinstance(data, dict):
        return {}
    err = data.get("error")
    if isinstance(err, dict):
        return err
    return data


def _details(err: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    details = err.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)]


def gemini_retry_delay(body: bytes | None) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` of a Gemini error body, in seconds."""
    for info in _details(_error_of(_body_json(body)), "RetryInfo"):
        delay = info.get("retryDelay")
        if isinstance(delay, str):
            return parse_duration(delay)
    return None


def gemini_quota_ids(body: bytes | None) -> list[str]:
    """The ``quotaId``s a Gemini ``google.rpc.QuotaFailure`` names."""
    ids = []
    for failure in _details(_error_of(_body_json(body)), "QuotaFailure"):
        for violation in failure.get("violations") or []:
            if isinstance(violation, dict):
                ids.append(str(violation.get("quotaId") or violation.get("quotaMetric") or ""))
    return ids


def _next_pacific_midnight(now: float) -> float | None:
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(GEMINI_DAY_ZONE)
    except Exception:  # no tz database
        return None
    local = datetime.fromtimestamp(now, zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


#: Words of a spent balance or billing problem in non-Gemini bodies (Anthropic: "Your credit
#: balance is too low", OpenRouter "Insufficient credits", DeepSeek "Insufficient Balance").
_QUOTA_WORDS = (
    "insufficient_quota",
    "credit balance",
    "insufficient credits",
    "insufficient balance",
    "spend limit",
    "usage limits",
    "billing",
)


def quota_until(status: int | None, body: bytes | None, now: float) -> float | bool | None:
    """Is this an exhausted quota rather than a short rate limit? False if not; else when it
    comes back (epoch), or None when the answer does not say."""
    data = _body_json(body)
    err = _error_of(data)
    if "status" in err and isinstance(err.get("status"), str):  # Gemini / Google RPC
        ids = [i.lower() for i in gemini_quota_ids(body)]
        if any("perday" in i or "per_day" in i for i in ids):
            return _next_pacific_midnight(now)
        return False
    code = f"{err.get('code', '')} {err.get('type', '')}".lower()
    if "insufficient_quota" in code:
        return None
    if "rate_limit" in code:
        return False
    if status == 402:
        return None
    text = str(err.get("message") or err.get("detail") or "")
    if not text and body and data is None:
        text = body[:2000].decode("utf-8", "replace")
    lowered = text.lower()
    if any(word in lowered for word in _QUOTA_WORDS):
        m = _REGAIN.search(text)
        if m:
            at = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}:00+00:00").timestamp()
            if at > now:
                return at
        return None
    return False


def _is_bad_key(status: int | None, body: bytes | None) -> bool:
    if status in (401, 403):
        return True
    if status != 400 or not body:
        return False
    err = _error_of(_body_json(body))
    for info in _details(err, "ErrorInfo"):
        if info.get("reason") == "API_KEY_INVALID":
            return True
    return "api key not valid" in str(err.get("message", "")).lower()


def scrub(text: str, secret: str) -> str:
    """``text`` without the key's secret or anything that looks like a key."""
    if len(secret) >= 8 and secret in text:
        text = text.replace(secret, "<key>")
    return _SECRETISH.sub("<key>", text)


def reason_of(status: int | None, body: bytes | None, secret: str) -> str:
    """A short, secret-free reason: the status and the provider's error type and message,
    e.g. ``401 authentication_error: invalid x-api-key``."""
    if status is None:
        return "no answer (connection failed or timed out)"
    data = _body_json(body)
    err = _error_of(data)
    tag = ""
    for field in ("code", "status", "type"):  # the most specific first
        value = err.get(field)
        if isinstance(value, str) and value and value != "error":
            tag = value
            break
    message = err.get("message") or err.get("detail") or ""
    if not isinstance(message, str):
        message = json.dumps(message)[:200]
    if not message and data is None and body:
        message = body[:2000].decode("utf-8", "replace")
        if message.lstrip().startswith("<"):  # an HTML error page: its title at most
            title = _TITLE.search(message)
            message = title.group(1) if title else ""
    text = scrub(f"{status} {tag}".strip() + (f": {message}" if message else ""), secret)
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:159] + "…"


def _hint(headers: Mapping[str, str], body: bytes | None, now: float) -> float | None:
    """When the answer says to come back: headers, Gemini RetryInfo, "try again in 7m12s"."""
    wait = retry_after(headers, now)
    if wait is None:
        wait = gemini_retry_delay(body)
    if wait is None and body:
        m = _TRY_AGAIN.search(body[:4000].decode("utf-8", "replace"))
        if m:
            wait = parse_duration(m.group(1).rstrip("."))
    return None if wait is None else now + wait


def learn(
    status: int | None, headers: Mapping[str, str], body: bytes | None, now: float, secret: str
) -> Lesson:
    """Classify an answer and say what it means for its key."""
    buckets = learn_buckets(headers, now) if headers else ()
    if status is not None and status < 400:
        spent = _spent_quota(headers, now)
        if spent is not None:
            return Lesson("ok", False, cool_until=spent[0], reason=spent[1], buckets=buckets)
        return Lesson("ok", False, buckets=buckets) if buckets else _OK
    reason = reason_of(status, body, secret)
    if _is_bad_key(status, body):
        quota = quota_until(status, body, now)  # Anthropic: 403/400 for a spent credit balance
        if quota is False:
            return Lesson("auth", True, disable=reason, buckets=buckets)
    if status is None or status == 408 or status >= 500:
        hint = _hint(headers, None, now)
        kind: Kind = "unreachable" if status is None else "server"
        if status in (503, 529):
            kind = "overloaded"
        if hint is not None:
            return Lesson(
                kind,
                True,
                cool_until=min(hint, now + TRANSIENT_MAX),
                reason=reason,
                buckets=buckets,
            )
        return Lesson(kind, True, backoff=TRANSIENT_BACKOFF, reason=reason, buckets=buckets)
    quota = quota_until(status, body, now)
    if quota is not False:
        hint = _hint(headers, body, now)
        until = quota if isinstance(quota, float) else None
        if until is None and hint is not None and hint - now > 60:
            until = hint
        return Lesson(
            "quota",
            True,
            cool_until=until or now + QUOTA_COOLDOWN,
            reason=f"quota exhausted: {reason}",
            buckets=buckets,
        )
    if status == 429:
        hint = _hint(headers, body, now)
        if hint is None:
            blocked = [b.ready_at(1.0) for _, b in buckets if b is not None and b.level < 1]
            hint = max(blocked) if blocked else None
        if hint is not None:
            return Lesson("rate_limit", True, cool_until=hint, reason=reason, buckets=buckets)
        return Lesson(
            "rate_limit", True, backoff=RATE_LIMIT_BACKOFF, reason=reason, buckets=buckets
        )
    return Lesson("client", True, buckets=buckets)


_OK = Lesson("ok", False)


def _spent_quota(headers: Mapping[str, str], now: float) -> tuple[float, str] | None:
    for name, what in QUOTA_FAMILIES:
        left = _number(headers.get(name))
        if left is not None and left <= 0:
            return now + QUOTA_COOLDOWN, f"quota exhausted: {what} 0 left"
    return None
