"""Gemini's enumerations and their IR equivalents, as named tables.

Each table links the provider documentation it follows. Decoders map through these tables
and keep the raw value; encoders use the reverse tables and clamp unknown values.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from crosswire.ir import ErrorKind, FinishReason

# ---- finish reasons -------------------------------------------------------------------------

#: Candidate.finishReason → IR reason (edge cases 72, 73 in docs/edge-cases.md).
#: https://ai.google.dev/api/generate-content#FinishReason
#: ``STOP`` becomes ``tool_calls`` when the answer holds a function call (edge 18/23); the
#: function-call failures are errors, never a clean stop, because agents would take an empty
#: ``stop`` as "done" (edge 73).
FINISH_REASONS: Final[dict[str, FinishReason]] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
    "NO_IMAGE": "error",
    "IMAGE_OTHER": "error",
    "OTHER": "error",
}

#: Unknown future ``IMAGE_*`` values are safety blocks of image output (edge 72).
IMAGE_PREFIX: Final = "IMAGE_"

#: IR reason → the finishReason a Gemini client sees. ``pause`` has no "continue" value in
#: Gemini, so it ends as ``STOP``; ``refusal`` is a safety stop.
FINISH_REASON_OUT: Final[dict[FinishReason, str]] = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "pause": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "refusal": "SAFETY",
    "error": "OTHER",
}

#: Values of the client's enum that a raw upstream reason may keep verbatim (so a Gemini →
#: Gemini answer says ``RECITATION``, not the generic ``SAFETY``).
#: https://googleapis.github.io/python-genai/genai.html#genai.types.FinishReason
CLIENT_FINISH_VALUES: Final = frozenset(
    {
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MALFORMED_FUNCTION_CALL",
        "IMAGE_SAFETY",
        "UNEXPECTED_TOOL_CALL",
        "IMAGE_PROHIBITED_CONTENT",
        "NO_IMAGE",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
    }
)


def finish_reason(raw: str, *, has_tool_call: bool) -> FinishReason:
    """The IR reason for a Gemini finishReason (unknown values: ``stop``, or
    ``content_filter`` for an unknown ``IMAGE_*``)."""
    reason = FINISH_REASONS.get(raw)
    if reason is None:
        reason = "content_filter" if raw.startswith(IMAGE_PREFIX) else "stop"
    if reason == "stop" and has_tool_call:
        return "tool_calls"
    return reason


# ---- tool choice ----------------------------------------------------------------------------

#: toolConfig.functionCallingConfig.mode → IR mode (edge case 32). ``ANY`` with exactly one
#: allowed name is the IR ``tool`` choice; ``VALIDATED`` (auto, with constrained calls) is
#: ``auto``. https://ai.google.dev/api/caching#Mode
FUNCTION_CALLING_MODES: Final[dict[str, Literal["auto", "none", "required"]]] = {
    "AUTO": "auto",
    "VALIDATED": "auto",
    "ANY": "required",
    "NONE": "none",
}

#: IR mode → Gemini mode. ``none`` keeps the declarations (Gemini's NONE just forbids calls);
#: a named tool is ``ANY`` + ``allowedFunctionNames: [name]``.
FUNCTION_CALLING_MODE_OUT: Final[dict[str, str]] = {
    "auto": "AUTO",
    "none": "NONE",
    "required": "ANY",
    "tool": "ANY",
}

# ---- thinking -------------------------------------------------------------------------------

#: OpenAI-style effort → thinkingBudget for models that take a budget (Gemini 2.x).
#: https://ai.google.dev/gemini-api/docs/thinking#set-budget
EFFORT_BUDGET: Final[dict[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}

#: OpenAI-style effort → thinkingLevel for Gemini 3 models, which take a level and accept
#: only ``low``/``high`` on every variant (edge case 69).
#: https://ai.google.dev/gemini-api/docs/thinking#thinking-levels
EFFORT_LEVEL: Final[dict[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "high",
    "high": "high",
    "xhigh": "high",
}

#: Gemini 3 Flash models also accept ``minimal`` and ``medium``.
EFFORT_LEVEL_FLASH: Final[dict[str, str]] = {
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}

#: The smallest budget of models whose thinking cannot be switched off (2.5 Pro).
MIN_BUDGET_ALWAYS_THINKING: Final = 128

_MAJOR = re.compile(r"gemini-(\d+)")


def model_generation(model: str) -> int | None:
    """The major version in a Gemini model name (``gemini-2.5-flash`` → 2), None for aliases
    such as ``gemini-flash-latest``."""
    m = _MAJOR.search(model.lower())
    return int(m.group(1)) if m else None


def uses_thinking_level(model: str) -> bool:
    """Gemini 3+ takes ``thinkingLevel``; older and unknown models take ``thinkingBudget``,
    which Gemini 3 also still accepts."""
    gen = model_generation(model)
    return gen is not None and gen >= 3


def cannot_disable_thinking(model: str) -> bool:
    return "2.5-pro" in model.lower()


def supports_function_response_parts(model: str) -> bool:
    """Multimodal function responses (``functionResponse.parts``) exist from Gemini 3 on;
    older models get the images as sibling parts of the same user turn (edge case 41)."""
    gen = model_generation(model)
    return gen is None or gen >= 3


# ---- errors ---------------------------------------------------------------------------------

#: google.rpc status name → IR kind. https://ai.google.dev/gemini-api/docs/troubleshooting
STATUS_KIND: Final[dict[str, ErrorKind]] = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "ALREADY_EXISTS": "invalid_request",
    "UNIMPLEMENTED": "invalid_request",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "DATA_LOSS": "api_error",
    "ABORTED": "api_error",
    "CANCELLED": "api_error",
    "UNAVAILABLE": "unavailable",
    "DEADLINE_EXCEEDED": "timeout",
}

#: google.rpc.ErrorInfo.reason values that say more than the status. Google answers an invalid
#: key with HTTP 400 INVALID_ARGUMENT; every other protocol says 401 and the SDKs pick their
#: AuthenticationError class from the status, so these become ``authentication`` / 401.
REASON_KIND: Final[dict[str, tuple[ErrorKind, int]]] = {
    "API_KEY_INVALID": ("authentication", 401),
    "API_KEY_EXPIRED": ("authentication", 401),
    "ACCESS_TOKEN_EXPIRED": ("authentication", 401),
    "API_KEY_SERVICE_BLOCKED": ("permission", 403),
    "SERVICE_DISABLED": ("permission", 403),
    "CONSUMER_SUSPENDED": ("permission", 403),
}

#: IR kind → the google.rpc status name a Gemini client sees.
KIND_STATUS: Final[dict[ErrorKind, str]] = {
    "invalid_request": "INVALID_ARGUMENT",
    "request_too_large": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "quota_exhausted": "RESOURCE_EXHAUSTED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "unavailable": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
}

#: Statuses Google never uses, replaced for Gemini clients by the one their retry logic knows
#: (google-genai retries 408/429/500/502/503/504, not Anthropic's 529).
CLIENT_STATUS_REPLACEMENT: Final[dict[int, int]] = {529: 503}

#: Fields of a whole Gemini answer that the IR models; the rest is kept in ``native``.
RESPONSE_KNOWN: Final = frozenset(
    {"candidates", "usageMetadata", "modelVersion", "responseId", "promptFeedback"}
)
CANDIDATE_KNOWN: Final = frozenset({"content", "finishReason", "index"})
