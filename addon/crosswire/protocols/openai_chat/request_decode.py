"""The app's Chat Completions request → IR.

Request fields: https://platform.openai.com/docs/api-reference/chat/create
Mistral SDK extras (``random_seed``, ``min_tokens``, ``safe_prompt``, ``prompt_mode``,
``guardrails``, ``repetition_penalty``, ``prompt_logprobs``, assistant ``prefix``, ``reference``
and ``document_url`` chunks, ``image_generation`` / ``document_library`` / ``connector`` tools):
https://docs.mistral.ai/api/#tag/chat — none is refused; the encoder forwards them to Mistral
backends and drops them with a note elsewhere (``dialects.MISTRAL_ONLY``).

Every field is decoded or kept: modelled fields go to the IR, the rest to
``Request.native["openai-chat"]`` (so an OpenAI-compatible backend gets them back), unknown
message keys to ``Message.native``. The JSON is untrusted: a wrong type anywhere is a
``ClientRequestError`` naming the field, never a ``KeyError``.
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import ClientRequestError
from crosswire.protocols import openai_wire
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import expect, function_tool, loads_client, optional
from crosswire.protocols.openai_chat import content, reasoning
from crosswire.protocols.openai_chat.mapping import NAME, TOOL_CHOICE_IN

#: Top-level fields the IR models; everything else is kept in ``Request.native``.
MODELLED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "min_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "random_seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "reasoning_effort",
        "stream",
        "stream_options",
        "user",
        "verbosity",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
    }
)
#: Message keys the decoder models (the rest stays in ``Message.native``).
MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "refusal",
        "reasoning_content",
        "reasoning",
        "thinking_blocks",
    }
)
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    model = optional(data, "model", str) or call.model or ""
    raw_messages = expect(data.get("messages"), list, "messages")
    messages = _MessageDecoder(report).decode(raw_messages)
    tools, native_tools = _decode_tools(data)
    stream_options = optional(data, "stream_options", dict) or {}
    include_usage = optional(stream_options, "include_usage", bool, "stream_options.include_usage")
    native = {k: v for k, v in data.items() if k not in MODELLED}
    safety_identifier = optional(data, "safety_identifier", str)
    extra_options = {k: v for k, v in stream_options.items() if k != "include_usage"}
    if extra_options:
        native["stream_options"] = extra_options
    return ir.Request(
        model=model,
        messages=messages,
        tools=tools,
        native_tools=native_tools,
        tool_choice=_decode_tool_choice(data, report),
        parallel_tool_calls=optional(data, "parallel_tool_calls", bool),
        params=_decode_params(data),
        reasoning=_decode_reasoning(data),
        response_format=openai_wire.response_format(
            data.get("response_format"), "response_format", nested="json_schema"
        ),
        stream=bool(optional(data, "stream", bool)),
        include_usage=include_usage,
        user=optional(data, "user", str) or safety_identifier,
        verbosity=optional(data, "verbosity", str),
        prompt_cache_key=optional(data, "prompt_cache_key", str),
        prompt_cache_retention=optional(data, "prompt_cache_retention", str),
        safety_identifier=safety_identifier,
        service_tier=optional(data, "service_tier", str),
        native={NAME: native} if native else {},
    )


# ---- parameters ------------------------------------------------------------------------------


def _decode_params(data: dict[str, Any]) -> ir.Params:
    max_tokens = optional(data, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = optional(data, "max_tokens", int)
    seed = optional(data, "seed", int)
    if seed is None:
        seed = optional(data, "random_seed", int)  # Mistral SDK clients
    return ir.Params(
        max_tokens=max_tokens,
        min_tokens=optional(data, "min_tokens", int),  # Mistral, vLLM
        temperature=_number(data, "temperature"),
        top_p=_number(data, "top_p"),
        top_k=optional(data, "top_k", int),
        stop=_decode_stop(data.get("stop")),
        seed=seed,
        n=optional(data, "n", int),
        presence_penalty=_number(data, "presence_penalty"),
        frequency_penalty=_number(data, "frequency_penalty"),
    )


def _number(data: dict[str, Any], key: str) -> float | None:
    value = optional(data, key, (int, float))
    return None if value is None else float(value)


def _decode_stop(stop: Any) -> tuple[str, ...] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return (stop,)
    items = expect(stop, list, "stop")
    return tuple(expect(s, str, f"stop[{i}]") for i, s in enumerate(items))


def _decode_reasoning(data: dict[str, Any]) -> ir.ReasoningConfig | None:
    effort = optional(data, "reasoning_effort", str)
    if effort is None:
        return None
    if effort == "none":  # gpt-5.1+: no reasoning at all; other encoders read enabled=False
        return ir.ReasoningConfig(enabled=False, effort="none")
    return ir.ReasoningConfig(enabled=True, effort=effort)


def _decode_tools(data: dict[str, Any]) -> tuple[tuple[ir.Tool, ...], tuple[ir.NativeTool, ...]]:
    tools: list[ir.Tool] = []
    native_tools: list[ir.NativeTool] = []
    for i, raw in enumerate(optional(data, "tools", list) or []):
        where = f"tools[{i}]"
        tool = expect(raw, dict, where)
        if expect(tool.get("type", "function"), str, f"{where}.type") != "function":
            native_tools.append(ir.NativeTool(origin=NAME, data=tool))  # custom, web search…
            continue
        fn = expect(tool.get("function"), dict, f"{where}.function")
        native = {k: v for k, v in tool.items() if k not in ("type", "function")}
        tools.append(function_tool(fn, f"{where}.function", NAME, native, strict=True))
    for i, raw in enumerate(optional(data, "functions", list) or []):  # legacy functions
        fn = expect(raw, dict, f"functions[{i}]")
        tools.append(function_tool(fn, f"functions[{i}]", NAME, {}, strict=False))
    return tuple(tools), tuple(native_tools)


def _decode_tool_choice(data: dict[str, Any], report: ir.Report) -> ir.ToolChoice | None:
    field = "tool_choice" if data.get("tool_choice") is not None else "function_call"
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        mode = TOOL_CHOICE_IN.get(value)
        if mode is None:
            raise ClientRequestError(
                f"'{field}' must be auto, none, required or a named function, got {value!r}",
                param=field,
            )
        return ir.ToolChoice(mode=mode)
    choice = expect(value, dict, field)
    kind = choice.get("type", "function")
    if kind == "allowed_tools":
        allowed = expect(choice.get("allowed_tools"), dict, f"{field}.allowed_tools")
        mode = "required" if allowed.get("mode") == "required" else "auto"
        report.dropped(f"{field}.allowed_tools", "the tool subset is not converted; all tools stay")
        return ir.ToolChoice(mode=mode)
    nested = choice.get(kind) if isinstance(kind, str) else None
    inner: dict[str, Any] = nested if isinstance(nested, dict) else choice
    name = expect(inner.get("name"), str, f"{field}.{kind}.name")
    return ir.ToolChoice(mode="tool", name=name)


# ---- messages ----------------------------------------------------------------------------------


class _MessageDecoder:
    """Messages in order; remembers each call's name so tool results can carry it (Gemini and
    Ollama need the name, OpenAI's ``role:"tool"`` message omits it)."""

    def __init__(self, report: ir.Report) -> None:
        self._report = report
        self._names: dict[str, str] = {}  # call id → function name
        self._legacy: dict[str, str] = {}  # function name → id of its latest legacy call

    def decode(self, raw_messages: list[Any]) -> tuple[ir.Message, ...]:
        return tuple(self._message(m, i) for i, m in enumerate(raw_messages))

    def _message(self, raw: Any, index: int) -> ir.Message:
        where = f"messages[{index}]"
        msg = expect(raw, dict, where)
        role = expect(msg.get("role"), str, f"{where}.role")
        if role not in ROLES:
            raise ClientRequestError(
                f"'{where}.role' must be one of {', '.join(ROLES)}, got {role!r}",
                param=f"{where}.role",
            )
        extra = {k: v for k, v in msg.items() if k not in MESSAGE_KEYS}
        native = {NAME: extra} if extra else {}
        name = optional(msg, "name", str, f"{where}.name")
        if role == "assistant":
            parts = self._assistant_parts(msg, index, where)
            return ir.Message(role="assistant", parts=parts, name=name, native=native)
        if role == "tool":
            call_id = expect(msg.get("tool_call_id"), str, f"{where}.tool_call_id")
            result = self._result(call_id, self._names.get(call_id) or name, msg, where)
            return ir.Message(role="tool", parts=(result,), native=native)
        if role == "function":  # legacy: the answer to a function_call, matched by name
            fname = expect(name, str, f"{where}.name")
            call_id = self._legacy.get(fname) or ids.derived_call_id(f"function:{fname}", index)
            return ir.Message(role="tool", parts=(self._result(call_id, fname, msg, where),))
        parts = content.decode(msg.get("content"), f"{where}.content")
        return ir.Message(role=role, parts=parts, name=name, native=native)  # type: ignore[arg-type]

    def _assistant_parts(self, msg: dict[str, Any], index: int, where: str) -> tuple[ir.Part, ...]:
        parts: list[ir.Part] = reasoning.decode_carrier(msg.get("thinking_blocks"))
        if not parts:
            text = reasoning.plain_text(msg)
            if text:
                parts.append(ir.Reasoning(text=text, origin=NAME))
        parts += content.decode(msg.get("content"), f"{where}.content")
        refusal = optional(msg, "refusal", str, f"{where}.refusal")
        if refusal:
            parts.append(ir.Text(text=refusal, native={NAME: {"refusal": True}}))
        calls = optional(msg, "tool_calls", list, f"{where}.tool_calls") or []
        for j, raw in enumerate(calls):
            parts.append(self._call(raw, f"{where}.tool_calls[{j}]", j))
        legacy = msg.get("function_call")
        if legacy is not None:
            fc = expect(legacy, dict, f"{where}.function_call")
            fname = expect(fc.get("name"), str, f"{where}.function_call.name")
            call_id = ids.derived_call_id(f"function:{fname}", index)
            self._legacy[fname] = call_id
            self._names[call_id] = fname
            parts.append(
                ir.ToolCall(id=call_id, name=fname, arguments=arguments_text(fc.get("arguments")))
            )
        return tuple(parts)

    def _call(self, raw: Any, where: str, position: int) -> ir.ToolCall:
        tc = expect(raw, dict, where)
        kind = tc.get("type", "function")
        native = {k: v for k, v in tc.items() if k not in ("id", "type", "function", "index")}
        if kind == "custom":  # free-form custom tools: the input is plain text
            custom = expect(tc.get("custom"), dict, f"{where}.custom")
            fname = expect(custom.get("name"), str, f"{where}.custom.name")
            arguments = optional(custom, "input", str, f"{where}.custom.input") or ""
            native = {"type": "custom"}
        else:
            fn = expect(tc.get("function"), dict, f"{where}.function")
            fname = expect(fn.get("name"), str, f"{where}.function.name")
            arguments = arguments_text(fn.get("arguments"))
        call_id = optional(tc, "id", str, f"{where}.id") or ids.derived_call_id(
            f"{fname}:{arguments}", position
        )
        self._names[call_id] = fname
        return ir.ToolCall(
            id=call_id, name=fname, arguments=arguments, native={NAME: native} if native else {}
        )

    def _result(
        self, call_id: str, name: str | None, msg: dict[str, Any], where: str
    ) -> ir.ToolResult:
        inner: list[ir.Text | ir.File] = []
        for part in content.decode(msg.get("content"), f"{where}.content"):
            if isinstance(part, (ir.Text, ir.File)):
                inner.append(part)
            else:
                self._report.dropped(f"{where}.content", f"a {part.type} part in a tool result")
        return ir.ToolResult(call_id=call_id, name=name, content=tuple(inner))


def arguments_text(value: Any) -> str:
    """Raw JSON text as sent; an object (some clients send one) is serialised once."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
