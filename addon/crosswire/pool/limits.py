"""What an answer says about its key's limits: cooldowns learnt from headers and bodies.

Providers announce their limits before they refuse: OpenAI ``x-ratelimit-remaining-*`` with
``x-ratelimit-reset-*`` durations (``6m0s``, ``20ms``), Anthropic ``anthropic-ratelimit-*``
with RFC 3339 reset times, everyone ``retry-after`` (seconds or an HTTP date) and
``retry-after-ms``, Gemini a ``RetryInfo.retryDelay`` in its 429 body. A key whose remaining
count reaches 0 is cooled until its reset *before* it is refused. A 429 is either a short-term
rate limit or an exhausted quota (billing, per-day limits): the body says which, and each is
cooled for as long as it really lasts.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: How long an exhausted quota cools when the answer does not say.
QUOTA_COOLDOWN = 3600.0
_QUOTA_WORDS = (
    "insufficient_quota",
    "quota",
    "billing",
    "credit balance",
    "exceeded your current",
    "perday",
)


def parse_duration(value: str) -> float | None:
    """``6m0s`` / ``1.5s`` / ``20ms`` / ``13s`` / plain seconds → seconds."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def parse_reset(value: str, now: float) -> float | None:
    """An absolute reset time (epoch) from a duration, an RFC 3339 time or an HTTP date."""
    value = value.strip()
    seconds = parse_duration(value)
    if seconds is not None:
        return now + seconds
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        return parsed.timestamp()
    except (TypeError, ValueError):
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


def exhausted_until(headers: Mapping[str, str], now: float) -> tuple[float, str] | None:
    """When a rate-limit header says nothing is left: (reset time, which limit)."""
    pairs = (
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "requests"),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "tokens"),
        (
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
            "requests",
        ),
        ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset", "tokens"),
        (
            "anthropic-ratelimit-input-tokens-remaining",
            "anthropic-ratelimit-input-tokens-reset",
            "input tokens",
        ),
        (
            "anthropic-ratelimit-output-tokens-remaining",
            "anthropic-ratelimit-output-tokens-reset",
            "output tokens",
        ),
    )
    latest: tuple[float, str] | None = None
    for remaining_name, reset_name, what in pairs:
        remaining = headers.get(remaining_name)
        reset = headers.get(reset_name)
        if remaining is None or reset is None:
            continue
        try:
            left = float(remaining)
        except ValueError:
            continue
        if left > 0:
            continue
        at = parse_reset(reset, now)
        if at is not None and at > now and (latest is None or at > latest[0]):
            latest = (at, f"{what} limit reached")
    return latest


def _body_json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def is_quota(body: bytes | None) -> bool:
    """A 429 that will not pass in seconds: billing, credit, per-day quotas."""
    data = _body_json(body)
    text = (
        json.dumps(data) if data is not None else (body or b"").decode("utf-8", "replace")
    ).lower()
    return (
        any(word in text.replace(" ", "") or word in text for word in _QUOTA_WORDS)
        and "rate_limit" not in text
    )


def gemini_retry_delay(body: bytes | None) -> float | None:
    data = _body_json(body)
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
    return None


def reason_of(status: int | None, body: bytes | None, secret: str) -> str:
    """A short, secret-free reason: the status and the provider's own error type/message."""
    if status is None:
        return "unreachable"
    data = _body_json(body)
    detail = ""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            detail = " ".join(
                str(err.get(k)) for k in ("type", "status", "code", "message") if err.get(k)
            )
        elif isinstance(err, str):
            detail = err
    text = f"{status} {detail}".strip()[:200]
    if secret and secret in text:
        text = text.replace(secret, "<key>")
    return re.sub(r"\b(sk|key|AIza)[-_A-Za-z0-9]{12,}", "<key>", text)
