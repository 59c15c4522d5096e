"""The app's ``POST /v1/responses`` body → IR ``Request``.

``instructions`` becomes a leading system message; ``input`` items become messages in order:
``message`` items keep their role, assistant-side items (``reasoning``, assistant ``message``,
``function_call`` and every item type this IR cannot model, kept whole as ``Opaque``) join
one assistant turn, consecutive ``function_call_output`` items form one tool turn.
``custom_tool_call`` items are calls like ``function_call`` (their text wrapped as
``{"input": text}``) and ``additional_tools`` items add their tools to the request's
(``tools.py``: free-form, namespaced and Codex's "responses lite" tools).

``previous_response_id``, ``conversation`` and ``prompt`` (a stored prompt template) name state
kept on OpenAI's side, which a stateless converter does not have: they are refused with a 400
that says how to send the whole input instead (edge 93). A same-protocol passthrough never
calls this decoder, so those requests still work there. ``background: true`` (server-side
polling) is refused for the same reason.

Reference: https://platform.openai.com/docs/api-reference/responses/create
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from crosswire import ir
from crosswire.ir.errors import ClientRequestError, UnsupportedFeature
from crosswire.ir.ids import derived_call_id
from crosswire.protocols import openai_wire
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import expect, loads_client, optional
from crosswire.protocols.openai_responses import items, tools
from crosswire.protocols.openai_responses.content import decode_content, native_of
from crosswire.protocols.openai_responses.mapping import NAME, SUMMARY_VALUES

#: Top-level fields the IR models; everything else goes to ``Request.native[NAME]``.
_MODELLED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "user",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "max_tool_calls",
    }
)
_STATEFUL = ("previous_response_id", "conversation", "prompt")
_ROLES = ("user", "assistant", "system", "developer")
_MESSAGE_KEYS = frozenset({"type", "role", "content"})
_OUTPUT_KEYS = frozenset({"type", "call_id", "output"})


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    _refuse_stateful(data)
    history = _History(report)
    instructions = data.get("instructions")
    if isinstance(instructions, str):
        if instructions:
            history.messages.append(ir.Message(role="system", parts=(ir.Text(text=instructions),)))
    elif instructions is not None:
        history.add_items(expect(instructions, list, "instructions"), "instructions")
    raw_input = data.get("input")
    if isinstance(raw_input, str):
        history.messages.append(ir.Message(role="user", parts=(ir.Text(text=raw_input),)))
    elif raw_input is not None:
        history.add_items(expect(raw_input, list, "input"), "input")

    native = {k: v for k, v in data.items() if k not in _MODELLED}
    # Unmodelled fields this codec still reads when it encodes for a Responses backend.
    optional(data, "store", bool)
    optional(data, "include", list)
    optional(data, "metadata", dict)
    declared = tools.Declared([], [])
    declared.add(data.get("tools"), "tools")
    for raw, key in history.additional:
        declared.add(raw, key["where"], key["item"])
    tool_list = _unique(declared.tools, report)
    tool_choice = _tool_choice(data.get("tool_choice"), native)
    text = optional(data, "text", dict) or {}
    text_rest = {k: v for k, v in text.items() if k not in ("format", "verbosity")}
    if text_rest:
        native["text"] = text_rest
    reasoning = _reasoning(optional(data, "reasoning", dict), native)
    temperature = optional(data, "temperature", (int, float))
    top_p = optional(data, "top_p", (int, float))
    safety_identifier = optional(data, "safety_identifier", str)
    return ir.Request(
        model=optional(data, "model", str) or "",
        messages=tuple(history.messages),
        tools=tool_list,
        native_tools=tuple(declared.native_tools),
        tool_choice=tool_choice,
        parallel_tool_calls=optional(data, "parallel_tool_calls", bool),
        params=ir.Params(
            max_tokens=optional(data, "max_output_tokens", int),
            temperature=None if temperature is None else float(temperature),
            top_p=None if top_p is None else float(top_p),
        ),
        reasoning=reasoning,
        response_format=openai_wire.response_format(text.get("format"), "text.format", None),
        stream=bool(optional(data, "stream", bool)),
        user=optional(data, "user", str) or safety_identifier,
        verbosity=optional(text, "verbosity", str, "text.verbosity"),
        prompt_cache_key=optional(data, "prompt_cache_key", str),
        prompt_cache_retention=optional(data, "prompt_cache_retention", str),
        safety_identifier=safety_identifier,
        service_tier=optional(data, "service_tier", str),
        max_tool_calls=optional(data, "max_tool_calls", int),
        native={NAME: native} if native else {},
    )


def _refuse_stateful(data: dict[str, Any]) -> None:
    for name in _STATEFUL:
        if data.get(name) is not None:
            raise UnsupportedFeature(
                f"'{name}' refers to state stored on OpenAI's side, which this backend does "
                "not have: send the whole conversation in 'input' (with store: false) instead",
                param=name,
            )
    if data.get("background") is True:
        raise UnsupportedFeature(
            "'background' responses are stored and polled on OpenAI's side, which this backend "
            "does not have: send the request without background",
            param="background",
        )


class _History:
    """Builds the message list: assistant-side items merge into one assistant turn,
    consecutive tool outputs into one tool turn."""

    def __init__(self, report: ir.Report) -> None:
        self.report = report
        self.messages: list[ir.Message] = []
        self.names: dict[str, str] = {}  # call_id → function name (ToolResult.name)
        #: ``additional_tools`` items: their tools list and where/which item they came from.
        self.additional: list[tuple[Any, dict[str, Any]]] = []

    def add(self, role: ir.Role, part: ir.Part) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role and role in ("assistant", "tool"):
            self.messages[-1] = dataclasses.replace(last, parts=(*last.parts, part))
        else:
            self.messages.append(ir.Message(role=role, parts=(part,)))

    def add_items(self, raw: list[Any], field: str) -> None:
        for i, item in enumerate(raw):
            where = f"{field}[{i}]"
            self.add_item(expect(item, dict, where), where, i)

    def add_item(self, item: dict[str, Any], where: str, position: int) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            self._message(item, where)
        elif kind in ("function_call", "custom_tool_call"):
            self._call(item, where, position)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self._call_output(item, where)
        elif kind == "additional_tools":
            key = {"where": f"{where}.tools", "item": tools.additional_item(item, where)}
            self.additional.append((item.get("tools"), key))
        elif kind == "reasoning":
            for part in items.reasoning_parts(item, self.report):
                self.add("assistant", part)
        else:
            if not isinstance(kind, str):
                raise ClientRequestError(f"'{where}.type' must be a string", param=where)
            # item_reference, web_search_call, compaction…: only
            # Responses can replay them; other encoders drop them with a note.
            self.add("assistant", ir.Opaque(origin=NAME, data=item))

    def _message(self, item: dict[str, Any], where: str) -> None:
        role = expect(item.get("role"), str, f"{where}.role")
        if role not in _ROLES:
            raise ClientRequestError(
                f"'{where}.role' must be user, assistant, system or developer, got {role!r}",
                param=f"{where}.role",
            )
        parts = decode_content(item.get("content"), f"{where}.content")
        if role == "assistant":
            meta = items.item_native(item)
            for part in parts:
                self.add("assistant", items.with_item(part, meta))
            return
        native = native_of(item, _MESSAGE_KEYS)
        self.messages.append(ir.Message(role=cast(ir.Role, role), parts=parts, native=native))

    def _call(self, item: dict[str, Any], where: str, position: int) -> None:
        """A ``function_call``, or a ``custom_tool_call`` (its text becomes the arguments
        ``{"input": text}``, as for any free-form tool in the IR)."""
        name, names = tools.call_names(item, where)
        optional(item, "call_id", str, f"{where}.call_id")
        optional(item, "id", str, f"{where}.id")
        custom = item.get("type") == "custom_tool_call"
        if custom:
            text = optional(item, "input", str, f"{where}.input") or ""
            item = {k: v for k, v in item.items() if k != "input"} | {"arguments": tools.wrap(text)}
        args = item.get("arguments")
        seed = f"{name}:{args if isinstance(args, str) else ''}"
        call = items.tool_call_part(item, derived_call_id(seed, position))
        own = {k: v for k, v in (call.native.get(NAME) or {}).items() if k != "namespace"}
        own |= names | ({"custom": True} if custom else {})
        call = dataclasses.replace(call, name=name, native={NAME: own} if own else {})
        self.names[call.id] = name
        self.add("assistant", call)

    def _call_output(self, item: dict[str, Any], where: str) -> None:
        call_id = expect(item.get("call_id"), str, f"{where}.call_id")
        output = item.get("output")
        native = native_of(item, _OUTPUT_KEYS)
        if item.get("type") == "custom_tool_call_output":
            native.setdefault(NAME, {})["item_type"] = "custom_tool_call_output"
        content: tuple[ir.Text | ir.File, ...]
        if isinstance(output, str):
            content = (ir.Text(text=output),)
        elif output is None:
            content = ()
        else:
            parts = decode_content(expect(output, list, f"{where}.output"), f"{where}.output")
            content = tuple(p for p in parts if isinstance(p, (ir.Text, ir.File)))
            if len(content) != len(parts):  # parts the IR cannot hold: keep the original
                native.setdefault(NAME, {})["output"] = output
        self.add(
            "tool",
            ir.ToolResult(
                call_id=call_id, name=self.names.get(call_id), content=content, native=native
            ),
        )


def _unique(declared: list[ir.Tool], report: ir.Report) -> tuple[ir.Tool, ...]:
    """One tool per IR name: a second declaration of a name (the same tool in ``tools`` and
    in an ``additional_tools`` item) would be refused by every other backend."""
    seen: dict[str, ir.Tool] = {}
    for t in declared:
        if t.name in seen:
            report.dropped(f"tool {t.name}", "declared twice; the first declaration is kept")
            continue
        seen[t.name] = t
    return tuple(seen.values())


def _tool_choice(raw: Any, native: dict[str, Any]) -> ir.ToolChoice | None:
    """auto / none / required / ``{"type":"function","name"}``; the other object forms
    (allowed_tools, a built-in or custom tool) stay in native for a Responses backend."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw in ("auto", "none", "required"):
            return ir.ToolChoice(mode=raw)  # type: ignore[arg-type]
        raise ClientRequestError(
            f"'tool_choice' must be auto, none, required or an object, got {raw!r}",
            param="tool_choice",
        )
    choice = expect(raw, dict, "tool_choice")
    if choice.get("type") == "function":
        nested = choice.get("function")
        fn: dict[str, Any] = nested if isinstance(nested, dict) else choice
        return ir.ToolChoice(mode="tool", name=expect(fn.get("name"), str, "tool_choice.name"))
    native["tool_choice"] = choice
    return None


def _reasoning(raw: dict[str, Any] | None, native: dict[str, Any]) -> ir.ReasoningConfig | None:
    if not raw:
        return None
    effort = optional(raw, "effort", str, "reasoning.effort")
    summary = optional(raw, "summary", str, "reasoning.summary") or optional(
        raw, "generate_summary", str, "reasoning.generate_summary"
    )
    rest = {k: v for k, v in raw.items() if k not in ("effort", "summary", "generate_summary")}
    if rest:
        native["reasoning"] = rest
    return ir.ReasoningConfig(
        enabled=(effort != "none") if effort is not None else None,
        effort=effort,  # "none" kept, as the Chat decoder does: other encoders read enabled
        summary=summary,
        include_thoughts=True if summary in SUMMARY_VALUES else None,
    )
