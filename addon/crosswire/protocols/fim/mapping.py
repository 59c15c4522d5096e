"""FIM and completions tables: finish reasons, request fields, usage.

Codestral FIM: https://docs.mistral.ai/api/#tag/fim (SDK ``FIMCompletionRequest``, mistralai 3.7)
OpenAI completions: https://platform.openai.com/docs/api-reference/completions/create
(``openai.types.completion_create_params``, openai 3.54)
"""

from __future__ import annotations

from typing import Any

from crosswire import ir

#: The protocol whose answers are shaped like chat completions (``choices[].message`` /
#: ``delta``); ``openai-completions`` answers carry ``choices[].text``.
CHAT_SHAPED = "fim"

#: Where each of the two protocols posts its request (below the backend's ``base_url``).
PATH: dict[str, str] = {"fim": "/fim/completions", "openai-completions": "/completions"}

#: wire ``finish_reason`` → IR (unknown values are ``stop``, kept raw).
FINISH_IN: dict[str, ir.FinishReason] = {
    "stop": "stop",
    "length": "length",
    "model_length": "length",
    "eos": "stop",
    "error": "error",
}
#: IR → wire ``finish_reason`` (the rest is ``stop``).
FINISH_OUT: dict[str, str] = {
    "length": "length",
    "pause": "length",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}
#: Top-level fields the decoder models; the rest is kept in ``Request.native``.
MODELLED = frozenset(
    {
        "model",
        "prompt",
        "suffix",
        "max_tokens",
        "min_tokens",
        "stop",
        "temperature",
        "top_p",
        "random_seed",
        "seed",
        "stream",
        "stream_options",
        "n",
    }
)
#: Every field of Codestral's FIM request: the API 422s on others.
FIM_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "suffix",
        "temperature",
        "top_p",
        "max_tokens",
        "min_tokens",
        "stream",
        "stop",
        "random_seed",
        "metadata",
        "prompt_cache_key",
    }
)
#: Every field of OpenAI's legacy completions request.
COMPLETIONS_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)


def usage_in(raw: Any) -> ir.Usage:
    if not isinstance(raw, dict):
        return ir.Usage()
    p, c = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return ir.Usage(
        input_tokens=p if isinstance(p, int) else None,
        output_tokens=c if isinstance(c, int) else None,
    )


def usage_out(u: ir.Usage) -> dict[str, int]:
    i, o = u.input_tokens or 0, u.output_tokens or 0
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}
