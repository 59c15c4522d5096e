"""Anthropic Messages tables.

Stop reasons: https://docs.anthropic.com/en/api/handling-stop-reasons
Errors: https://docs.anthropic.com/en/api/errors
"""

from __future__ import annotations

from crosswire.ir import ErrorKind, FinishReason

STOP_IN: dict[str, FinishReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause",
    "model_context_window_exceeded": "length",
}

STOP_OUT: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "content_filter": "refusal",
    "pause": "pause_turn",
    "error": "end_turn",
}

ERROR_TYPE: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "quota_exhausted": "rate_limit_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
    "unavailable": "overloaded_error",
    "timeout": "api_error",
}

ERROR_KIND: dict[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
    "billing_error": "quota_exhausted",
    "timeout_error": "timeout",
}

#: reasoning effort → thinking budget (budget ≥ 1024, below max_tokens)
EFFORT_BUDGET: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32000,
}

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
