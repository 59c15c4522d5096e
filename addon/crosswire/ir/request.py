"""A model request, independent of any wire format.

The request keeps instructions (system/developer) *in order* as messages: where a target has a
single system slot, its encoder lifts the leading ones and decides what to do with later ones.
Every generation parameter is optional: ``None`` means "the app did not say", which encoders
must keep distinct from a default value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crosswire.ir.parts import Native, Part, no_native

Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn. ``tool`` messages hold only ``ToolResult`` parts (Anthropic's user turn with
    tool_result blocks decodes into a ``tool`` message followed by a ``user`` message)."""

    role: Role
    parts: tuple[Part, ...]
    name: str | None = None
    native: Native = field(default_factory=no_native)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    """A function tool. ``parameters`` is the JSON schema as the app sent it; encoders
    rewrite it for targets with a restricted dialect (Gemini)."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None
    #: A free-form tool (OpenAI Responses ``custom``): the model writes plain text, not JSON.
    #: ``parameters`` is then a function schema with the one string property ``input``, so a
    #: backend without free-form tools gets an ordinary function; a call's ``arguments`` are
    #: always ``{"input": <text>}`` in the IR, and the app's encoder unwraps the text again.
    freeform: bool = False
    native: Native = field(default_factory=no_native)


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeTool:
    """A provider-executed tool (web search, code execution…): only its origin can run it.
    ``native`` is where its origin keeps how the app declared it (e.g. in which item)."""

    origin: str
    data: Mapping[str, Any]
    native: Native = field(default_factory=no_native)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChoice:
    """``mode``: auto / none / required (any tool) / tool (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningConfig:
    """Thinking controls. ``effort`` is OpenAI's scale (minimal/low/medium/high/xhigh);
    ``budget_tokens`` Anthropic's/Gemini's; ``enabled=False`` turns thinking off explicitly;
    ``adaptive`` is Anthropic's model-chosen budget."""

    enabled: bool | None = None
    effort: str | None = None
    budget_tokens: int | None = None
    adaptive: bool = False
    summary: str | None = None
    include_thoughts: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFormat:
    """``json_object`` (any JSON) or ``json_schema`` (``schema`` with ``name``/``strict``)."""

    type: Literal["text", "json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    """Sampling and limits; ``None`` = not set by the app."""

    max_tokens: int | None = None
    min_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FimPrompt:
    """Fill-in-the-middle: complete between ``prefix`` and ``suffix``. A plain completion
    (``/api/generate`` or ``/v1/completions`` without suffix) has ``suffix=None``."""

    prefix: str
    suffix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What the app asked for. ``model`` is the app's model name until routing renames it."""

    model: str
    messages: tuple[Message, ...] = ()
    tools: tuple[Tool, ...] = ()
    native_tools: tuple[NativeTool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    params: Params = field(default_factory=Params)
    reasoning: ReasoningConfig | None = None
    response_format: ResponseFormat | None = None
    fim: FimPrompt | None = None
    stream: bool = False
    include_usage: bool | None = None
    #: The app's end-user id: OpenAI ``user``, Anthropic ``metadata.user_id``. A Chat or
    #: Responses app that sends only ``safety_identifier`` (OpenAI's successor of ``user``)
    #: has it here too, so backends with a single end-user slot still get it.
    user: str | None = None
    #: How long or terse the answer is: ``low`` / ``medium`` / ``high``. OpenAI Chat
    #: ``verbosity``, Responses ``text.verbosity``.
    verbosity: str | None = None
    #: The app's prompt-cache routing key: OpenAI Chat and Responses ``prompt_cache_key``,
    #: Mistral chat ``prompt_cache_key``.
    prompt_cache_key: str | None = None
    #: How long a cached prompt prefix is kept: ``in_memory`` / ``24h``. OpenAI Chat and
    #: Responses ``prompt_cache_retention``.
    prompt_cache_retention: str | None = None
    #: A stable hash of the end user for abuse detection: OpenAI Chat and Responses
    #: ``safety_identifier``.
    safety_identifier: str | None = None
    #: The processing tier asked for, in the app's vocabulary: OpenAI Chat and Responses
    #: ``service_tier`` (auto/default/flex/scale/priority/fast, Responses also ultrafast),
    #: Mistral ``service_tier`` (auto/standard_only), Anthropic ``service_tier``
    #: (auto/standard_only), Gemini ``serviceTier`` (standard/flex/priority). An encoder sends
    #: only a value its backend knows and drops any other with a note.
    service_tier: str | None = None
    #: The most built-in tool calls one answer may make: Responses ``max_tool_calls``.
    max_tool_calls: int | None = None
    native: Native = field(default_factory=no_native)


#: ``Request`` fields that are hints to one provider family rather than content: a backend
#: whose codec does not list a set one in its ``hints`` gets it dropped with a note.
HINTS: tuple[str, ...] = (
    "verbosity",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "service_tier",
    "max_tool_calls",
)
