"""Contract violations crosswire's codecs are known to have today, awaiting a codec fix.

A case whose id matches an entry's ``cases`` is marked ``xfail(strict=True)``: it must fail,
and only with violations matching the entry's ``violation``. Any other violation fails the
test outright; a case that no longer violates anything XPASSes, which fails the run too — then
delete (or narrow) the entry. Each reason names the wire field and why the SDK refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pytest


@dataclass(frozen=True)
class Known:
    cases: tuple[str, ...]  # fnmatch patterns over case ids
    violation: str  # regex over one violation line
    reason: str

    def covers(self, case_id: str) -> bool:
        return any(fnmatchcase(case_id, p) for p in self.cases)


class KnownViolations(AssertionError):
    """Raised when every violation of a case is a known one (the expected failure)."""


_REASONING_WHOLE = (
    "anthropic/nonstream_thinking",
    "gemini/nonstream_thinking",
    "mistral/chat_nonstream_thinking_chunks",
    "mistral/chat_nonstream_thinking_replayed_in_history",
    "openai_chat/nonstream_ollama_cloud_parallel_tool_calls",
    "openai_responses/nonstream_parallel_function_calls_interleaved_reasoning",
    "openai_responses/nonstream_parallel_function_calls_reasoning",
)
_REASONING_STREAM = (
    "anthropic/stream_adaptive_thinking_opus46",
    "anthropic/stream_redacted_thinking",
    "anthropic/stream_thinking_padded_data_lines",
    "anthropic/stream_thinking_signature_delta",
    "anthropic/stream_thinking_then_tool_use",
    "gemini/sse_thinking_gemini3",
    "gemini/sse_thinking_include_thoughts",
    "gemini/stream_json_array_function_call",
    "gemini/stream_json_array_response_schema",
    "mistral/chat_stream_magistral_thinking",
    "mistral/chat_stream_thinking_chunks",
    "openai_chat/stream_ollama_compat_reasoning_tool_call",
    "openai_responses/stream_function_call_gpt5nano",
    "openai_responses/stream_reasoning_tools_usage",
    "openai_responses/stream_web_search_server_tool",
)

#: Every successful answer to a Responses app (errors are a separate shape).
_RESPONSES_ANSWERS = ("*->openai-responses-whole*", "*->openai-responses-stream")

ANSWERS: tuple[Known, ...] = (
    Known(
        cases=tuple(f"{f}->openai-chat-*" for f in _REASONING_WHOLE + _REASONING_STREAM),
        violation=r"\.(message|delta)\.(reasoning_content|thinking_blocks): unknown field",
        reason=(
            "openai-chat encoder: reasoning is sent as message/delta `reasoning_content` and "
            "`thinking_blocks`, fields openai 3.54's ChatCompletionMessage / ChoiceDelta do not "
            "have (DeepSeek/LiteLLM extensions; OpenAI Chat returns no reasoning text)"
        ),
    ),
    Known(
        cases=_RESPONSES_ANSWERS,
        violation=r"(^\$|\.response)\.store: unknown field",
        reason=(
            "openai-responses encoder: the Response object carries `store`, which openai "
            "3.54's Response model does not declare"
        ),
    ),
    Known(
        cases=_RESPONSES_ANSWERS,
        violation=r"\.name: unknown field \(not in ResponseFunctionCallArgumentsDoneEvent\)",
        reason=(
            "openai-responses stream encoder: `response.function_call_arguments.done` carries "
            "`name`; the SDK's event has arguments, item_id, output_index, sequence_number, "
            "type only"
        ),
    ),
    Known(
        cases=("openai_responses/stream_web_search_server_tool->openai-responses-stream",),
        violation=r"\.action\.sources\[\d+\]\.(name: unknown|type: 'api'|url: required)",
        reason=(
            "recorded web_search_call item carried verbatim: its source {type: 'api', name} "
            "predates openai 3.54, whose ActionSearchSource is {type: 'url', url} only"
        ),
    ),
)

REQUESTS: tuple[Known, ...] = (
    Known(
        cases=("openai_responses/error_400_context_length_exceeded->openai-responses",),
        violation=(
            r"\$\.input\[\d+\]\.content\[0\]\.(text: unknown field|detail: required field"
            r"|type: 'output_text' is not one of)"
        ),
        reason=(
            "openai-responses request encoder: an assistant text turn goes up as a "
            "`message` with content [{type: output_text, text}] and no id/status/annotations; "
            "openai 3.54 types that only as ResponseOutputMessageParam (id, status and "
            "annotations required), an id-less assistant turn only with string content "
            "(EasyInputMessageParam); the API itself accepted the recorded shape"
        ),
    ),
)


def marks(case_id: str, table: tuple[Known, ...]) -> list[pytest.MarkDecorator]:
    found = [k for k in table if k.covers(case_id)]
    if not found:
        return []
    reason = " | ".join(k.reason for k in found)
    return [pytest.mark.xfail(strict=True, raises=KnownViolations, reason=reason)]


def assert_conforms(case_id: str, violations: list[str], table: tuple[Known, ...]) -> None:
    """Pass when there is no violation; raise KnownViolations when all are known for this
    case; AssertionError (a real failure) otherwise."""
    if not violations:
        return
    known = [k for k in table if k.covers(case_id)]
    unknown = [v for v in violations if not any(re.search(k.violation, v) for k in known)]
    shown = "\n  ".join((unknown or violations)[:20])
    more = len(unknown or violations) - 20
    text = f"{len(violations)} contract violation(s):\n  {shown}" + (
        f"\n  … {more} more" if more > 0 else ""
    )
    if unknown:
        raise AssertionError(text)
    raise KnownViolations(text)
