"""Anthropic Messages tables: stop reasons, error types, thinking budgets, media types.

Messages API: https://docs.anthropic.com/en/api/messages
Stop reasons: https://docs.anthropic.com/en/api/handling-stop-reasons
Errors: https://docs.anthropic.com/en/api/errors
Extended thinking: https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
Effort: https://platform.claude.com/docs/en/build-with-claude/effort
Vision (media types): https://docs.anthropic.com/en/docs/build-with-claude/vision
"""

from __future__ import annotations

from typing import Literal

from crosswire.ir import ErrorKind, FinishReason

NAME = "anthropic"
#: The ``anthropic-version`` crosswire speaks to an Anthropic backend unless the backend pins
#: another (``anthropic_version`` in the config); see ``version`` and docs/anthropic-version.md.
ANTHROPIC_VERSION = "2026-10-21"
#: The version before it: sampling parameters, assistant documents and user citations allowed.
LEGACY_VERSION = "2023-06-01"
MESSAGES_PATH = "/v1/messages"

#: wire ``stop_reason`` → IR (edges 72–75). Unknown values become ``stop`` (kept in ``raw``).
STOP_IN: dict[str, FinishReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause",
    "model_context_window_exceeded": "length",
}

#: IR → wire ``stop_reason``: only values of the SDK's ``StopReason`` enum (edge 74). ``error``
#: has no wire value; the stream encoder sends an ``event: error`` instead (edge 73).
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

#: IR error kind → Anthropic ``error.type`` (the eight documented types).
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

#: Anthropic ``error.type`` → IR kind and the HTTP status it comes with (an ``event: error``
#: inside a 200 stream has no status of its own: edge 10, 90).
ERROR_KIND: dict[str, tuple[ErrorKind, int]] = {
    "invalid_request_error": ("invalid_request", 400),
    "authentication_error": ("authentication", 401),
    "billing_error": ("quota_exhausted", 402),
    "permission_error": ("permission", 403),
    "not_found_error": ("not_found", 404),
    "request_too_large": ("request_too_large", 413),
    "rate_limit_error": ("rate_limit", 429),
    "api_error": ("api_error", 500),
    "timeout_error": ("timeout", 504),
    "overloaded_error": ("overloaded", 529),
}

#: OpenAI-scale reasoning effort → ``thinking.budget_tokens`` (edge 65). The budget must be at
#: least ``MIN_THINKING_BUDGET`` and below ``max_tokens``; ``xhigh`` stays under 32k so that it
#: fits the output limit of every current Claude model.
EFFORT_BUDGET: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32000,
}
DEFAULT_EFFORT = "medium"
MIN_THINKING_BUDGET = 1024
#: While thinking, Anthropic accepts ``top_p`` only in [0.95, 1].
THINKING_MIN_TOP_P = 0.95

#: Anthropic ``output_config.effort`` → the IR's OpenAI scale (``max`` has no OpenAI name).
EFFORT_IN: dict[str, str] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "xhigh",
}

#: ``tool_choice`` (edge 32): IR mode → wire type, and back.
TOOL_CHOICE_OUT: dict[str, str] = {
    "auto": "auto",
    "required": "any",
    "none": "none",
    "tool": "tool",
}
TOOL_CHOICE_IN: dict[str, Literal["auto", "none", "required", "tool"]] = {
    "auto": "auto",
    "any": "required",
    "none": "none",
    "tool": "tool",
}

#: The only image types Anthropic accepts (edge 52).
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PDF = "application/pdf"

#: Said in the system prompt when an app asks for ``json_object`` (Anthropic has no JSON mode).
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)
#: The user turn put first when a history starts with the assistant (edge 48).
FIRST_USER_TEXT = "(continue)"

#: Block types whose streamed ``input`` the SDK reads only from ``input_json_delta`` (edge 14).
INPUT_BY_DELTA = frozenset({"tool_use", "server_tool_use"})
