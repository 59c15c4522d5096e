"""The quirks of each OpenAI-compatible server, as data: ``Target.dialect`` selects one.

Why a table and not ``if dialect == …`` scattered through the encoder: every quirk has one
place, the encoder reads flags, and a new compatible server is one more row.

Sources:
OpenAI https://platform.openai.com/docs/api-reference/chat/create ·
Azure https://learn.microsoft.com/azure/ai-foundry/openai/reference ·
Mistral https://docs.mistral.ai/api/#tag/chat (strict schema: extra fields are a 422) ·
DeepSeek https://api-docs.deepseek.com/guides/reasoning_model ·
vLLM https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
"""

from __future__ import annotations

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
    #: Mistral 422s on unknown top-level fields: only these pass (``None`` = anything).
    allowed_fields: frozenset[str] | None = None
    #: Reasoning efforts the server accepts, and what the others become.
    effort_map: tuple[tuple[str, str], ...] = ()
    #: What "reasoning off" is called, when the server has an off switch.
    effort_off: str | None = "none"
    #: Assistant refusals go in ``refusal`` (OpenAI) or into the text.
    refusal_field: bool = False
    #: Content arrays in system messages (strict servers want a string, edge 44).
    system_arrays: bool = False
    azure_path: bool = False


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
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
        "reasoning_effort",
        "guardrails",
    }
)
#: Mistral-only request fields: other servers reject them, so they are dropped with a note.
MISTRAL_ONLY = frozenset(
    {"safe_prompt", "prompt_mode", "random_seed", "guardrails", "document_image_limit"}
)

_OPENAI = Dialect(
    name="openai",
    max_tokens_field="max_completion_tokens",
    keeps_developer_role=True,
    max_id_length=40,
    max_stop=4,
    refusal_field=True,
    system_arrays=True,
)

DIALECTS: dict[str, Dialect] = {
    "openai": _OPENAI,
    "azure": Dialect(
        name="azure",
        max_tokens_field="max_completion_tokens",
        keeps_developer_role=True,
        max_id_length=40,
        max_stop=4,
        refusal_field=True,
        system_arrays=True,
        azure_path=True,
    ),
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
        effort_map=(("minimal", "low"), ("xhigh", "high")),
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
