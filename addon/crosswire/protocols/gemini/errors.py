"""Gemini error bodies ↔ IR ``Error`` (edge case 90 in docs/edge-cases.md).

Gemini answers ``{"error": {"code", "message", "status", "details": [...]}}`` (a one-element
array of that for a non-SSE stream request), ``status`` being a google.rpc code name.
``details`` refine it: ``ErrorInfo.reason`` (``API_KEY_INVALID`` comes as a 400),
``QuotaFailure`` violations (a per-day quota will not come back by retrying, a per-minute one
will) and ``RetryInfo.retryDelay`` ("48s"). Any other body — HTML from a load balancer, an
empty one — still decodes, from the HTTP status.
https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from crosswire.ir import Error, ErrorKind, kind_for_status
from crosswire.protocols.base import ClientCall, EncodedError
from crosswire.protocols.common import retry_after
from crosswire.protocols.gemini import mapping
from crosswire.protocols.gemini.rawjson import dumps

_TYPE_PREFIX: Final = "type.googleapis.com/google.rpc."
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_PER_DAY: Final = re.compile(r"per[_ ]?day", re.IGNORECASE)
_TAGS: Final = re.compile(r"<[^>]+>")
_REASON_NAME: Final = re.compile(r"^[A-Z][A-Z0-9_]+$")
_MAX_MESSAGE: Final = 500


def decode(status: int, headers: Mapping[str, str], body: bytes) -> Error:
    retry_header = retry_after(headers)
    try:
        data: Any = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = error_from_payload(data["error"], status)
        if error.retry_after is None and retry_header is not None:
            error = dataclasses.replace(error, retry_after=retry_header)
        return error
    message = _other_message(data, body, status)
    return Error(
        kind=kind_for_status(status), message=message, status=status, retry_after=retry_header
    )


def error_from_payload(error: Mapping[str, Any], status: int | None) -> Error:
    """The ``error`` object of a Gemini body; ``status`` is the HTTP status (None in-band,
    where the body's ``code`` says it)."""
    code = error.get("code")
    http_status = status or (code if isinstance(code, int) and code >= 400 else 500)
    status_name = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    kind: ErrorKind = mapping.STATUS_KIND.get(status_name or "", kind_for_status(http_status))
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    reason: str | None = None
    retry_after: float | None = None
    per_day = False
    for detail in details:
        kind_name = str(detail.get("@type", "")).removeprefix(_TYPE_PREFIX)
        if kind_name == "ErrorInfo" and isinstance(detail.get("reason"), str):
            reason = detail["reason"]
        elif kind_name == "RetryInfo":
            retry_after = _duration(detail.get("retryDelay"))
        elif kind_name == "QuotaFailure":
            per_day = per_day or _quota_per_day(detail.get("violations"))
    if reason in mapping.REASON_KIND:
        kind, http_status = mapping.REASON_KIND[reason]
    elif kind == "rate_limit" or http_status == 429:
        kind = "quota_exhausted" if per_day else "rate_limit"
    elif kind == "unavailable" and message and "overload" in message.lower():
        kind = "overloaded"
    return Error(
        kind=kind,
        message=message or status_name or f"upstream answered HTTP {http_status}",
        status=http_status,
        code=reason or status_name,
        retry_after=retry_after,
    )


def _quota_per_day(violations: Any) -> bool:
    """A per-day quota (or a quota of 0: the model is not in the plan) will not come back by
    retrying in a minute: ``quota_exhausted``; per-minute ones are ``rate_limit``."""
    if not isinstance(violations, list):
        return False
    for violation in violations:
        if not isinstance(violation, dict):
            continue
        names = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
        if _PER_DAY.search(names) or str(violation.get("quotaValue")) == "0":
            return True
    return False


def _duration(value: Any) -> float | None:
    if isinstance(value, str):
        m = _DURATION.match(value)
        return float(m.group(1)) if m else None
    if isinstance(value, dict):  # the proto form {"seconds": 13, "nanos": 0}
        seconds = value.get("seconds", 0)
        nanos = value.get("nanos", 0)
        try:
            return float(seconds) + float(nanos) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _other_message(data: Any, body: bytes, status: int) -> str:
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    text = _TAGS.sub(" ", body.decode("utf-8", "replace"))
    text = " ".join(text.split())
    if not text:
        return f"upstream answered HTTP {status}"
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


# ---- encoding -------------------------------------------------------------------------------


def error_object(error: Error) -> dict[str, Any]:
    """``{"error": {code, message, status, details?}}`` as a Gemini client expects. Details
    are added where client logic reads them: ``RetryInfo`` (Gemini CLI waits that long),
    ``QuotaFailure`` with a per-day quota id for ``quota_exhausted`` (Gemini CLI stops
    retrying), ``ErrorInfo`` for a Google reason code."""
    status = mapping.CLIENT_STATUS_REPLACEMENT.get(error.status, error.status)
    status_name = mapping.KIND_STATUS.get(error.kind, "INTERNAL")
    body: dict[str, Any] = {"code": status, "message": error.message, "status": status_name}
    details: list[dict[str, Any]] = []
    if error.code and _REASON_NAME.match(error.code) and error.code != status_name:
        details.append(
            {"@type": _TYPE_PREFIX + "ErrorInfo", "reason": error.code, "domain": "googleapis.com"}
        )
    if error.kind == "quota_exhausted":
        details.append(
            {
                "@type": _TYPE_PREFIX + "QuotaFailure",
                "violations": [
                    {"quotaId": "UpstreamQuotaExhaustedPerDay", "description": error.message}
                ],
            }
        )
    if error.retry_after is not None:
        details.append(
            {"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": _format_duration(error.retry_after)}
        )
    if details:
        body["details"] = details
    return {"error": body}


def _format_duration(seconds: float) -> str:
    if seconds == math.floor(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0") + "s"


def encode(call: ClientCall | None, error: Error) -> EncodedError:
    body = error_object(error)
    return EncodedError(status=body["error"]["code"], body=dumps(body))
