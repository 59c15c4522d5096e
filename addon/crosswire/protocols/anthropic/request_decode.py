"""The app's ``/v1/messages`` (or ``/v1/messages/count_tokens``) body → IR ``Request``.

Request body: https://docs.anthropic.com/en/api/messages

Modelled: ``model``, ``system``, ``messages``, ``tools`` (custom tools → ``Tool``; typed server
tools such as ``web_search_20250305``, ``bash_*``, ``text_editor_*`` → ``NativeTool``),
``tool_choice`` (+ ``disable_parallel_tool_use`` → ``parallel_tool_calls=False``), ``thinking``,
``output_config`` (``effort``, ``format``) / the older ``output_format``, ``max_tokens``,
``temperature``, ``top_p``, ``top_k``, ``stop_sequences``, ``metadata.user_id``, ``stream``.
Everything else (``service_tier``, ``container``, ``mcp_servers``, ``context_management``, fields
added after this was written) goes to ``Request.native["anthropic"]`` for the Anthropic encoder
to put back. Claude Code's ``?beta=true`` and ``anthropic-beta`` headers need nothing here.

Native entries with a special meaning to the encoder: ``thinking`` (the whole original object
when it holds more than the IR models, e.g. ``display`` or an unknown type), ``output_config``
(everything but ``format``, including the app's own ``effort`` value), ``metadata`` (everything
but ``user_id``), ``tool_choice`` (a type this codec does not know).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols.anthropic.content_decode import decode_messages, system_message
from crosswire.protocols.anthropic.mapping import EFFORT_IN, NAME, TOOL_CHOICE_IN
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import expect, loads_client, optional

MODELLED = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "thinking",
        "metadata",
        "output_config",
        "output_format",
    }
)
_TOOL_KEYS = frozenset({"name", "description", "input_schema"})
_KNOWN_THINKING = frozenset({"enabled", "adaptive", "disabled"})


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    native: dict[str, Any] = {k: v for k, v in data.items() if k not in MODELLED}
    messages: list[ir.Message] = []
    if data.get("system") is not None:
        system = system_message(data["system"], "system")
        if system is not None:
            messages.append(system)
    messages.extend(decode_messages(data.get("messages"), report))
    tools, native_tools = _tools(data.get("tools"))
    choice, parallel = _tool_choice(data.get("tool_choice"), native, report)
    reasoning = _thinking(data.get("thinking"), native)
    reasoning, response_format = _output_config(data, reasoning, native)
    user = _metadata(data.get("metadata"), native)
    return ir.Request(
        model=optional(data, "model", str) or call.model or "",
        messages=tuple(messages),
        tools=tools,
        native_tools=native_tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        params=_params(data),
        reasoning=reasoning,
        response_format=response_format,
        stream=bool(optional(data, "stream", bool)),
        include_usage=True,  # Anthropic streams always carry usage
        user=user,
        native={NAME: native} if native else {},
    )


def _params(data: dict[str, Any]) -> ir.Params:
    temperature = optional(data, "temperature", (int, float))
    top_p = optional(data, "top_p", (int, float))
    stops = optional(data, "stop_sequences", list)
    return ir.Params(
        max_tokens=optional(data, "max_tokens", int),
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        top_k=optional(data, "top_k", int),
        stop=None
        if stops is None
        else tuple(expect(s, str, f"stop_sequences[{i}]") for i, s in enumerate(stops)),
    )


def _tools(value: Any) -> tuple[tuple[ir.Tool, ...], tuple[ir.NativeTool, ...]]:
    """Custom tools (no ``type``, or ``"custom"``) are functions; typed ones run at Anthropic.

    ``strict`` is kept in ``native`` as well as in ``Tool.strict``: the Anthropic encoder sends
    it only for tools that came from an Anthropic app (older Claude models refuse it)."""
    if value is None:
        return (), ()
    tools: list[ir.Tool] = []
    native_tools: list[ir.NativeTool] = []
    for i, raw in enumerate(expect(value, list, "tools")):
        t = expect(raw, dict, f"tools[{i}]")
        if t.get("type") not in (None, "custom"):
            native_tools.append(ir.NativeTool(origin=NAME, data=t))
            continue
        extra = {k: v for k, v in t.items() if k not in _TOOL_KEYS}
        strict = optional(t, "strict", bool, f"tools[{i}].strict")
        tools.append(
            ir.Tool(
                name=expect(t.get("name"), str, f"tools[{i}].name"),
                description=optional(t, "description", str, f"tools[{i}].description"),
                parameters=optional(t, "input_schema", dict, f"tools[{i}].input_schema"),
                strict=strict,
                native={NAME: extra} if extra else {},
            )
        )
    return tuple(tools), tuple(native_tools)


def _tool_choice(
    value: Any, native: dict[str, Any], report: ir.Report
) -> tuple[ir.ToolChoice | None, bool | None]:
    if value is None:
        return None, None
    choice = expect(value, dict, "tool_choice")
    disable = optional(
        choice, "disable_parallel_tool_use", bool, "tool_choice.disable_parallel_tool_use"
    )
    parallel = False if disable else None
    ctype = choice.get("type")
    mode = TOOL_CHOICE_IN.get(ctype) if isinstance(ctype, str) else None
    if mode is None:  # a newer choice type: only Anthropic can honour it
        native["tool_choice"] = choice
        report.moved("tool_choice", f"type {choice.get('type')!r} kept for Anthropic only")
        return None, parallel
    if mode == "tool":
        name = expect(choice.get("name"), str, "tool_choice.name")
        return ir.ToolChoice(mode="tool", name=name), parallel
    return ir.ToolChoice(mode=mode), parallel


def _thinking(value: Any, native: dict[str, Any]) -> ir.ReasoningConfig | None:
    if value is None:
        return None
    thinking = expect(value, dict, "thinking")
    kind = thinking.get("type")
    if (
        not isinstance(kind, str)
        or kind not in _KNOWN_THINKING
        or set(thinking) - {"type", "budget_tokens"}
    ):
        native["thinking"] = thinking  # display, between_tools…: put back as sent
    if kind == "disabled":
        return ir.ReasoningConfig(enabled=False)
    if kind == "adaptive":
        return ir.ReasoningConfig(enabled=True, adaptive=True, include_thoughts=True)
    budget = optional(thinking, "budget_tokens", int, "thinking.budget_tokens")
    return ir.ReasoningConfig(enabled=True, budget_tokens=budget, include_thoughts=True)


def _output_config(
    data: dict[str, Any], reasoning: ir.ReasoningConfig | None, native: dict[str, Any]
) -> tuple[ir.ReasoningConfig | None, ir.ResponseFormat | None]:
    """``output_config.effort`` joins the reasoning config; ``output_config.format`` (or the
    deprecated ``output_format``) is the structured-output schema."""
    config = optional(data, "output_config", dict) or {}
    legacy = optional(data, "output_format", dict)
    rest = {k: v for k, v in config.items() if k != "format"}
    if rest:
        native["output_config"] = rest
    effort = config.get("effort")
    if isinstance(effort, str):
        mapped = EFFORT_IN.get(effort, effort)
        if reasoning is None:
            reasoning = ir.ReasoningConfig(effort=mapped)
        else:
            reasoning = ir.ReasoningConfig(
                enabled=reasoning.enabled,
                effort=mapped,
                budget_tokens=reasoning.budget_tokens,
                adaptive=reasoning.adaptive,
                include_thoughts=reasoning.include_thoughts,
            )
    raw_format = config.get("format") if config.get("format") is not None else legacy
    if raw_format is None:
        return reasoning, None
    fmt = expect(raw_format, dict, "output_config.format")
    if fmt.get("type") != "json_schema":
        native.setdefault("output_config", {})["format"] = fmt
        return reasoning, None
    schema = optional(fmt, "schema", dict, "output_config.format.schema")
    return reasoning, ir.ResponseFormat(type="json_schema", schema=schema)


def _metadata(value: Any, native: dict[str, Any]) -> str | None:
    if value is None:
        return None
    metadata = expect(value, dict, "metadata")
    rest = {k: v for k, v in metadata.items() if k != "user_id"}
    if rest:
        native["metadata"] = rest
    user = metadata.get("user_id")
    return user if isinstance(user, str) else None
