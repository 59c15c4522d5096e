"""Ollama tables: options ⇄ IR parameters, finish reasons, thinking levels, the fields each
decoder models and the fields each answer type may carry.

Reference pages (checked 2026-11): https://docs.ollama.com/api/chat,
https://docs.ollama.com/api/generate, https://docs.ollama.com/capabilities/thinking and
https://docs.ollama.com/modelfile#valid-parameters-and-values (the ``options``); the field
names and types are the ``ollama`` Python package's (0.6.3) ``_types.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from crosswire import ir

NAME = "ollama"

#: ``options`` keys the IR models ⇄ ``ir.Params`` attribute, both ways (docs: modelfile, "Valid
#: Parameters and Values"; api/chat "options"). ``stop`` is handled apart (a list).
OPTIONS_IN: dict[str, str] = {
    "num_predict": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}
#: Integer-valued options among them (the others are numbers).
INT_OPTIONS = frozenset({"num_predict", "top_k", "seed"})

#: ``done_reason`` → IR (docs: api/chat "done_reason"). ``load``/``unload`` answer a request
#: that only loaded or unloaded the model: nothing was generated, which is a clean stop.
FINISH_IN: dict[str, ir.FinishReason] = {
    "stop": "stop",
    "length": "length",
    "load": "stop",
    "unload": "stop",
}
#: IR → ``done_reason``: Ollama knows only these two for generated text; a tool call ends
#: with ``stop`` there. ``pause`` (continue) is closest to a cut-off.
FINISH_OUT: dict[str, str] = {"length": "length", "pause": "length"}

#: ``think`` levels (docs: capabilities/thinking; ``true``/``false`` or one of these).
THINK_LEVELS = frozenset({"low", "medium", "high"})
#: IR efforts outside Ollama's scale → the nearest level (recorded as ``clamped``).
EFFORT_OUT: dict[str, str] = {"minimal": "low", "xhigh": "high", "max": "high"}
#: IR efforts that mean "no thinking".
EFFORT_OFF = frozenset({"none", "off"})

#: ``/api/chat`` body keys the chat decoder models (docs: api/chat); the rest is native.
CHAT_MODELLED = frozenset({"model", "messages", "tools", "format", "options", "stream", "think"})
#: ``/api/generate`` body keys the generate decoder models (docs: api/generate).
GENERATE_MODELLED = frozenset(
    {"model", "prompt", "suffix", "system", "format", "options", "stream", "think"}
)
#: Message keys the decoder models (docs: api/chat "messages"); the rest is the message's
#: native. ``tool_call_id`` names the call a result answers (servers since 0.12.10).
MESSAGE_MODELLED = frozenset(
    {"role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id"}
)

#: Answer keys the decoders model; the rest (logprobs, context, durations…) is kept in
#: ``Response.native`` for an Ollama app.
ANSWER_MODELLED = frozenset(
    {
        "model",
        "created_at",
        "message",
        "response",
        "thinking",
        "image",
        "done",
        "done_reason",
        "prompt_eval_count",
        "eval_count",
    }
)
#: Fields of ``ollama.ChatResponse`` / ``GenerateResponse`` an upstream's unmodelled answer
#: fields may fill again for an Ollama app (the SDK validates answers: nothing else).
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
CHAT_ANSWER_EXTRA = frozenset({*DURATIONS, "logprobs"})
GENERATE_ANSWER_EXTRA = frozenset({*DURATIONS, "logprobs", "context", "completed", "total"})


def finish_in(done_reason: object, has_calls: bool) -> ir.Finish:
    """The IR finish of a ``done: true`` object; a tool call wins over ``stop`` (edge 18)."""
    raw = done_reason if isinstance(done_reason, str) else None
    if has_calls:
        return ir.Finish(reason="tool_calls", raw=raw)
    return ir.Finish(reason=FINISH_IN.get(raw or "stop", "stop"), raw=raw)


def usage_in(obj: dict[str, object]) -> ir.Usage:
    """``prompt_eval_count`` / ``eval_count`` (Ollama has no cache or reasoning counts)."""
    i, o = obj.get("prompt_eval_count"), obj.get("eval_count")
    return ir.Usage(
        input_tokens=i if isinstance(i, int) and not isinstance(i, bool) else None,
        output_tokens=o if isinstance(o, int) and not isinstance(o, bool) else None,
    )


def done_fields(finish: ir.Finish, usage: ir.Usage) -> dict[str, object]:
    """The last object's fields: reason, zero durations (crosswire did not time the model),
    and the token counts."""
    return {
        "done": True,
        "done_reason": FINISH_OUT.get(finish.reason, "stop"),
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": usage.input_tokens or 0,
        "prompt_eval_duration": 0,
        "eval_count": usage.output_tokens or 0,
        "eval_duration": 0,
    }


def created_in(created_at: object) -> int | None:
    """``created_at`` (RFC 3339 with up to nanoseconds) as epoch seconds."""
    if not isinstance(created_at, str):
        return None
    try:
        return int(datetime.fromisoformat(created_at).timestamp())
    except ValueError:
        return None


def created_out(created: int | None) -> str:
    """An RFC 3339 ``created_at`` as Ollama writes it (UTC, microseconds, ``Z``)."""
    when = datetime.fromtimestamp(created if created is not None else time.time(), UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
