"""The quirks of each OpenAI-compatible server, as data: ``Target.dialect`` selects one.

Why a table and not ``if dialect == …`` scattered through the encoder: every quirk has one
place, the encoder reads flags, and a new compatible server is one more row.

Sources:
OpenAI https://platform.openai.com/docs/api-reference/chat/create ·
Azure https://learn.microsoft.com/azure/ai-foundry/openai/reference ·
Mistral https://docs.mistral.ai/api/#tag/chat (strict schema: extra fields are a 422),
https://docs.mistral.ai/capabilities/reasoning/adjustable ·
DeepSeek https://api-docs.deepseek.com/guides/reasoning_model ·
vLLM https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

#: Where reasoning text of earlier assistant turns goes: nowhere (OpenAI has no field for it),
#: ``reasoning_content`` (DeepSeek-style, edge 66) or Mistral ``thinking`` content chunks.
ReasoningCarrier = Literal["none", "reasoning_content", "thinking_chunks"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    name: str
    #: ``max_completion_tokens`` (OpenAI reasoning models reject ``max_tokens``, edge 80).
    max_tokens_field: str = "max_tokens"
    keeps_developer_role: bool = False
    seed_field: str = "seed"
    #: ``name`` on system/user/assistant messages (Codestral and Perplexity reject it, edge 51).
    message_names: bool = True
    #: Mistral: tool-call ids are exactly 9 alphanumerics (edge 28).
    alnum_ids: bool = False
    #: OpenAI rejects tool-call ids longer than 40 characters.
    max_id_length: int | None = None
    reasoning_carrier: ReasoningCarrier = "none"
    #: Reasoning of another origin keeps its text (DeepSeek/vLLM need it back, edge 66).
    foreign_reasoning_text: bool = False
    stream_options: bool = True
    top_k: bool = False
    min_tokens: bool = False
    user: bool = True
    #: OpenAI allows at most 4 stop sequences (edge 84).
    max_stop: int | None = None
    #: Mistral refuses ``user`` right after ``tool`` (edge 43).
    assistant_between_tool_and_user: bool = False
    required_tool_choice: str = "required"
    #: Strict servers refuse unknown top-level fields: only these pass (``None`` = anything).
    allowed_fields: frozenset[str] | None = None
    #: Values of ``service_tier`` the server knows (``None`` = anything).
    service_tiers: frozenset[str] | None = None
    #: ``tools[].type`` values besides ``function`` the server runs (``None`` = anything).
    native_tool_types: frozenset[str] | None = None
    #: Message keys beyond the modelled ones that may come back (``None`` = anything).
    message_extras: frozenset[str] | None = None
    #: Reasoning efforts the server accepts, and what the others become.
    effort_map: tuple[tuple[str, str], ...] = ()
    #: What "reasoning off" is called, when the server has an off switch.
    effort_off: str | None = "none"
    #: Assistant refusals go in ``refusal`` (OpenAI) or into the text.
    refusal_field: bool = False
    #: Content arrays in system messages (strict servers want a string, edge 44).
    system_arrays: bool = False
    azure_path: bool = False


#: Every top-level field of Mistral's chat request (SDK ``ChatCompletionRequest``, 2026); the
#: API 422s on anything else.
MISTRAL_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "metadata",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "min_tokens",
        "repetition_penalty",
        "top_k",
        "logprobs",
        "top_logprobs",
        "prompt_logprobs",
        "top_prompt_logprobs",
        "n",
        "prediction",
        "parallel_tool_calls",
        "reasoning_effort",
        "prompt_mode",
        "guardrails",
        "prompt_cache_key",
        "service_tier",
        "safe_prompt",
    }
)
#: Mistral-only request fields (and their spellings): other servers reject them, so they are
#: dropped with a note.
MISTRAL_ONLY = frozenset(
    {
        "safe_prompt",
        "prompt_mode",
        "random_seed",
        "guardrails",
        "repetition_penalty",
        "prompt_logprobs",
        "top_prompt_logprobs",
        "document_image_limit",
        "document_page_limit",
    }
)
#: Every top-level field of OpenAI's ``CompletionCreateParams`` (openai 3.54); OpenAI answers
#: 400 "Unrecognized request argument" for others.
OPENAI_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
#: ``service_tier`` values each server knows (a value of the other family is dropped).
OPENAI_SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority", "fast"})
MISTRAL_SERVICE_TIERS = frozenset({"auto", "standard_only"})

_OPENAI = Dialect(
    name="openai",
    max_tokens_field="max_completion_tokens",
    keeps_developer_role=True,
    max_id_length=40,
    max_stop=4,
    refusal_field=True,
    system_arrays=True,
    allowed_fields=OPENAI_FIELDS,
    service_tiers=OPENAI_SERVICE_TIERS,
    native_tool_types=frozenset({"custom"}),
    message_extras=frozenset({"audio"}),
)

DIALECTS: dict[str, Dialect] = {
    "openai": _OPENAI,
    "azure": dataclasses.replace(_OPENAI, name="azure", azure_path=True),
    "mistral": Dialect(
        name="mistral",
        seed_field="random_seed",
        message_names=False,
        alnum_ids=True,
        reasoning_carrier="thinking_chunks",
        stream_options=False,
        user=False,
        assistant_between_tool_and_user=True,
        required_tool_choice="any",
        allowed_fields=MISTRAL_FIELDS,
        service_tiers=MISTRAL_SERVICE_TIERS,
        native_tool_types=frozenset({"image_generation", "document_library", "connector"}),
        message_extras=frozenset({"prefix"}),
        # The SDK's enum has OpenAI's whole scale plus max, but models take a subset (small and
        # medium: none/high; large: low…high): the extremes are clamped to what all take.
        effort_map=(("minimal", "low"), ("xhigh", "high"), ("max", "high")),
        top_k=True,
        min_tokens=True,
    ),
    "deepseek": Dialect(
        name="deepseek",
        reasoning_carrier="reasoning_content",
        foreign_reasoning_text=True,
        effort_off=None,
    ),
    "vllm": Dialect(
        name="vllm",
        reasoning_carrier="reasoning_content",
        foreign_reasoning_text=True,
        top_k=True,
        min_tokens=True,
        effort_off=None,
    ),
    "generic": Dialect(
        name="generic",
        message_names=False,
        reasoning_carrier="reasoning_content",
        top_k=True,
    ),
}


def dialect_for(name: str) -> Dialect:
    """The dialect named by the config; an unknown name is treated as a generic server."""
    return DIALECTS.get(name) or DIALECTS["generic"]
