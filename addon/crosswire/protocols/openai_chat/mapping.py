"""OpenAI Chat Completions tables.

Finish reasons: https://platform.openai.com/docs/api-reference/chat/object
Errors: https://platform.openai.com/docs/guides/error-codes
"""

from __future__ import annotations

from crosswire.ir import FinishReason

#: wire finish_reason → IR
FINISH_IN: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "eos": "stop",  # some compatible servers
}

#: IR → wire finish_reason (the enum the OpenAI SDK accepts)
FINISH_OUT: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "stop_sequence": "stop",
    "pause": "length",  # the client must continue; "stop" would claim the answer is complete
    "refusal": "content_filter",
    "error": "stop",
}


def effort_for_budget(budget: int) -> str:
    for effort, limit in (("minimal", 1024), ("low", 4096), ("medium", 12000), ("high", 24000)):
        if budget <= limit:
            return effort
    return "xhigh"
