"""What an answer says about its key: which kind of answer it is, and for how long to cool.

A 429 is either a short-term rate limit or an exhausted quota (billing, credit, a per-day
limit): :func:`learn` reads the body to tell them apart — OpenAI's ``insufficient_quota``
code, Gemini's ``google.rpc.QuotaFailure`` quota ids (``…PerDay…`` vs ``…PerMinute…``; the
message says "exceeded your current quota" for both), Anthropic's credit-balance messages —
and cools each for as long as it really lasts: a rate limit for its ``retry-after``,
``retry-after-ms``, Gemini ``RetryInfo.retryDelay`` or "try again in 7m12s" hint (else a
doubling backoff), a quota until its reset when known (Gemini's day ends at midnight Pacific)
else an hour. 5xx, 529 and connection failures cool briefly; 401/403 (and Gemini's
``API_KEY_INVALID``) disable. Limits announced in headers become buckets (``buckets``).
Reasons quote the provider's error code and message, scrubbed of anything that looks like a
key. https://ai.google.dev/gemini-api/docs/rate-limits
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from crosswire.pool.buckets import (
    QUOTA_COOLDOWN,
    Bucket,
    learn_buckets,
    parse_duration,
    retry_after,
    spent_quota,
)

#: A 429 with no hint: 1 s, doubling per consecutive 429 of the key, at most a minute.
RATE_LIMIT_BACKOFF = (1.0, 60.0)
#: 5xx, 529 overloaded, timeouts and connection failures: 1 s, doubling, at most 5 s.
TRANSIENT_BACKOFF = (1.0, 5.0)
#: The longest a ``retry-after`` on a transient failure is believed.
TRANSIENT_MAX = 60.0
#: Gemini's per-day quotas reset at midnight Pacific time.
#: https://ai.google.dev/gemini-api/docs/rate-limits#how-rate-limits-work
GEMINI_DAY_ZONE = "America/Los_Angeles"

Kind = Literal["ok", "rate_limit", "quota", "overloaded", "server", "unreachable", "auth", "client"]


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

_TRY_AGAIN = re.compile(r"(?:try again|retry) in (\d[\d.hms]*)", re.IGNORECASE)
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_REGAIN = re.compile(r"regain access on (\d{4}-\d{2}-\d{2}) at (\d{2}:\d{2}) UTC")
_SECRETISH = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai|key|AIza)[-_][A-Za-z0-9*_\-.]{6,}|\bAIza[A-Za-z0-9_\-]{20,}"
    r"|\b(?=[A-Za-z0-9_\-*]*\d)(?=[A-Za-z0-9_\-*]*[A-Za-z])[A-Za-z0-9_\-*]{32,}"
)


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
        spent = spent_quota(headers, now)
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


_OK = Lesson("ok", False)  # shared: never mutated
