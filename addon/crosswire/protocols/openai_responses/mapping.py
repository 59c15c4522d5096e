"""OpenAI Responses tables: statuses, reasoning efforts, in-stream error codes.

Response object and statuses: https://platform.openai.com/docs/api-reference/responses/object
Streaming events: https://platform.openai.com/docs/api-reference/responses-streaming
Error codes: https://platform.openai.com/docs/guides/error-codes
"""

from __future__ import annotations

from typing import Final, Literal

from crosswire.ir import ErrorKind, FinishReason

NAME: Final = "openai-responses"

Status = Literal["completed", "incomplete", "failed"]

#: ``incomplete_details.reason`` → IR finish reason (unknown reasons count as ``length``: the
#: answer was cut, which is what a client must hear).
FINISH_FOR_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

#: IR finish reason → (``status``, ``incomplete_details.reason``). ``pause`` (Anthropic
#: ``pause_turn``) is "incomplete" because the client must continue, never a clean stop;
#: ``error`` (a malformed function call) is a failed response.
STATUS_FOR_FINISH: dict[FinishReason, tuple[Status, str | None]] = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "stop_sequence": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "pause": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "refusal": ("incomplete", "content_filter"),
    "error": ("failed", None),
}

#: A thinking budget (Anthropic/Gemini tokens) → ``reasoning.effort``: the first row whose
#: limit the budget does not exceed. Above the last row: ``high`` (``xhigh`` exists only on a
#: few models and is refused by the others).
EFFORT_FOR_BUDGET: tuple[tuple[int, str], ...] = (
    (1024, "minimal"),
    (4096, "low"),
    (12000, "medium"),
)
EFFORT_ABOVE_BUDGETS: Final = "high"

#: The minimum ``max_output_tokens`` the API accepts ("Expected a value >= 16").
MIN_OUTPUT_TOKENS: Final = 16

#: ``service_tier`` values the API accepts (openai 3.54's ``ServiceTier``); another family's
#: tier (Anthropic/Mistral ``standard_only``) is dropped with a note.
SERVICE_TIERS: frozenset[str] = frozenset(
    {"auto", "default", "flex", "scale", "priority", "fast", "ultrafast"}
)

#: ``reasoning.summary`` values the API accepts.
SUMMARY_VALUES: frozenset[str] = frozenset({"auto", "concise", "detailed"})

#: IR kind → ``response.failed`` ``error.code`` when the error carries no OpenAI code.
FAILED_CODE_FOR_KIND: dict[ErrorKind, str] = {
    "invalid_request": "invalid_prompt",
    "request_too_large": "invalid_prompt",
    "rate_limit": "rate_limit_exceeded",
    "quota_exhausted": "insufficient_quota",
    "overloaded": "server_is_overloaded",
    "unavailable": "server_is_overloaded",
}

#: ``error.code`` values passed through as they are: the SDK's ``ResponseError.code`` enum and
#: the codes Codex and the API use beyond it (Codex switches on the first eight; how an
#: upstream's in-stream code reads is ``openai_errors.STREAM_ERROR_KIND``). Anything else (another provider's error type)
#: is replaced by ``FAILED_CODE_FOR_KIND``.
KNOWN_FAILED_CODES: frozenset[str] = frozenset(
    {
        "insufficient_quota",
        "rate_limit_exceeded",
        "slow_down",
        "context_length_exceeded",
        "invalid_prompt",
        "server_is_overloaded",
        "server_error",
        "vector_store_timeout",
        "usage_not_included",
        "bio_policy",
        "cyber_policy",
        "misalignment_policy_violation",
        "data_residency_mismatch",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)

#: Audio formats ``input_audio`` takes, by media type.
AUDIO_FORMAT: dict[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}

#: File extension ⇄ media type for ``input_file`` (a table, not ``mimetypes``, which reads
#: system files: codecs do no I/O). https://platform.openai.com/docs/guides/pdf-files
MEDIA_TYPE_FOR_EXTENSION: dict[str, str] = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".xml": "application/xml",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
}
EXTENSION_FOR_MEDIA_TYPE: dict[str, str] = {
    media: ext for ext, media in reversed(MEDIA_TYPE_FOR_EXTENSION.items())
}
