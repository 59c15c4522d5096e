"""OpenAI Chat Completions tables: finish reasons, tool choice, reasoning effort, error types.

Finish reasons: https://platform.openai.com/docs/api-reference/chat/object
Tool choice: https://platform.openai.com/docs/api-reference/chat/create#chat-create-tool_choice
Reasoning effort: https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort
Errors: https://platform.openai.com/docs/guides/error-codes
"""

from __future__ import annotations

from typing import Literal

from crosswire.ir import FinishReason

NAME = "openai-chat"

#: wire ``finish_reason`` → IR. Unknown values become ``stop`` (kept in ``Finish.raw``).
FINISH_IN: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "eos": "stop",  # some compatible servers (TGI, older vLLM)
    "model_length": "length",  # Mistral, when the context window is full
    "error": "error",  # Mistral
}

#: IR → wire ``finish_reason``: only the values the OpenAI SDKs accept (edge 74).
FINISH_OUT: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "stop_sequence": "stop",
    # The client must continue: "stop" would claim the answer is complete (edge 74).
    "pause": "length",
    "refusal": "content_filter",
    "error": "stop",
}

#: IR → Mistral ``finish_reason`` (its SDK's enum: stop, length, model_length, error,
#: tool_calls; https://docs.mistral.ai/api/ ChatCompletionChoice).
MISTRAL_FINISH_OUT: dict[FinishReason, str] = {
    **FINISH_OUT,
    "content_filter": "stop",
    "refusal": "stop",
    "error": "error",
}

ToolChoiceMode = Literal["auto", "none", "required", "tool"]

#: ``tool_choice`` strings → IR mode; ``any`` is what Mistral SDK clients send (edge 32).
TOOL_CHOICE_IN: dict[str, ToolChoiceMode] = {
    "auto": "auto",
    "none": "none",
    "required": "required",
    "any": "required",
}

#: Reasoning budgets (Anthropic/Gemini style) → OpenAI effort, by upper bound.
EFFORT_FOR_BUDGET: tuple[tuple[int, str], ...] = (
    (1024, "minimal"),
    (4096, "low"),
    (12000, "medium"),
    (24000, "high"),
)


def effort_for_budget(budget: int) -> str:
    for limit, effort in EFFORT_FOR_BUDGET:
        if budget <= limit:
            return effort
    return "xhigh"
