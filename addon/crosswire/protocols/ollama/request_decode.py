"""An Ollama app's ``/api/chat`` or ``/api/generate`` body → IR request.

What the IR models becomes IR (messages, tools, ``options`` sampling values, ``think``,
``format``, ``suffix``/``system`` of generate); everything else — ``keep_alive``,
``logprobs``/``top_logprobs``, ``template``, ``context``, ``raw``, generate's ``images`` and
image-generation ``width``/``height``/``steps``, the remaining ``options`` — stays in
``Request.native["ollama"]``: an Ollama backend gets it back unchanged, other backends drop it
and the pipeline notes each one. Tool-call ids and ``tool_call_id`` (servers since 0.12.10)
are used when present; otherwise calls get derived ids and results are matched by
``tool_name``, first unanswered call first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import ClientRequestError
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import (
    as_dict,
    dumps_str,
    expect,
    function_tool,
    loads_client,
    normalise_base64,
    optional,
    sniff_media_type,
)
from crosswire.protocols.ollama.mapping import (
    CHAT_MODELLED,
    GENERATE_MODELLED,
    INT_OPTIONS,
    MESSAGE_MODELLED,
    NAME,
    OPTIONS_IN,
    THINK_LEVELS,
)

#: Values that say nothing (clients send ``"keep_alive": null``, ``"images": []``): not kept,
#: so that other backends get no note about them.
_EMPTY: tuple[Any, ...] = (None, [], {})


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    generate = call.variant == "generate"
    params, rest_options = params_in(optional(data, "options", dict) or {})
    native = {
        k: v
        for k, v in data.items()
        if k not in (GENERATE_MODELLED if generate else CHAT_MODELLED) and v not in _EMPTY
    }
    if rest_options:
        native["options"] = rest_options
    common = ir.Request(
        model=optional(data, "model", str) or "",
        params=params,
        reasoning=think_in(data.get("think")),
        response_format=format_in(data.get("format")),
        stream=optional(data, "stream", bool) is not False,
        include_usage=True,
        native={NAME: native} if native else {},
    )
    if generate:
        system = optional(data, "system", str)
        return dataclasses.replace(
            common,
            messages=(ir.Message(role="system", parts=(ir.Text(text=system),)),) if system else (),
            fim=ir.FimPrompt(
                prefix=optional(data, "prompt", str) or "",
                suffix=optional(data, "suffix", str),
            ),
        )
    calls = _OpenCalls()
    messages = tuple(
        _message(expect(raw, dict, f"messages[{i}]"), f"messages[{i}]", i, calls)
        for i, raw in enumerate(optional(data, "messages", list) or [])
    )
    tools, native_tools = _tools(optional(data, "tools", list) or [])
    return dataclasses.replace(common, messages=messages, tools=tools, native_tools=native_tools)


# ---- top-level fields -----------------------------------------------------------------------


def params_in(options: dict[str, Any]) -> tuple[ir.Params, dict[str, Any]]:
    """The IR parameters among ``options``, and the options the IR does not model.

    ``num_predict`` below zero (-1 endless, -2 fill the context) has no IR equivalent: it
    stays an Ollama option. Integer options sent as whole floats are accepted, as the server
    does."""
    values: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in options.items():
        attr = OPTIONS_IN.get(key)
        if value is None:
            continue
        if key == "stop":
            values["stop"] = _stop(value)
        elif attr is None:
            rest[key] = value
        elif key in INT_OPTIONS:
            number = _integer(value, f"options.{key}")
            if key == "num_predict" and number < 0:
                rest[key] = value
            else:
                values[attr] = number
        else:
            values[attr] = float(expect(value, (int, float), f"options.{key}"))
    return ir.Params(**values), rest


def _integer(value: Any, field: str) -> int:
    number: int | float = expect(value, (int, float), field)
    if isinstance(number, float):
        if not number.is_integer():
            raise ClientRequestError(f"'{field}' must be an integer", param=field)
        return int(number)
    return number


def _stop(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(
        expect(s, str, f"options.stop[{i}]")
        for i, s in enumerate(expect(value, list, "options.stop"))
    )


def think_in(value: Any) -> ir.ReasoningConfig | None:
    """``think``: a boolean, or a level for models that have levels (gpt-oss)."""
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if isinstance(value, bool):
        return ir.ReasoningConfig(enabled=value, include_thoughts=value)
    if isinstance(value, str) and value.lower() in THINK_LEVELS:
        return ir.ReasoningConfig(enabled=True, effort=value.lower(), include_thoughts=True)
    raise ClientRequestError(
        '\'think\' must be true, false, "low", "medium" or "high"', param="think"
    )


def format_in(value: Any) -> ir.ResponseFormat | None:
    """``format``: ``""`` (none), ``"json"`` or a JSON schema."""
    if value is None or value == "":
        return None
    if value == "json":
        return ir.ResponseFormat(type="json_object")
    if isinstance(value, dict):
        return ir.ResponseFormat(type="json_schema", schema=value)
    raise ClientRequestError("'format' must be \"json\" or a JSON schema object", param="format")


def _tools(raw: list[Any]) -> tuple[tuple[ir.Tool, ...], tuple[ir.NativeTool, ...]]:
    tools: list[ir.Tool] = []
    others: list[ir.NativeTool] = []
    for i, t in enumerate(raw):
        t = expect(t, dict, f"tools[{i}]")
        if optional(t, "type", str, f"tools[{i}].type") not in (None, "function"):
            others.append(ir.NativeTool(origin=NAME, data=t))
            continue
        fn = expect(t.get("function"), dict, f"tools[{i}].function")
        extra = {k: v for k, v in t.items() if k not in ("type", "function")}
        tools.append(function_tool(fn, f"tools[{i}].function", NAME, extra, strict=False))
    return tuple(tools), tuple(others)


# ---- messages -------------------------------------------------------------------------------


class _OpenCalls:
    """The history's calls not answered yet, in order. A result names its call by
    ``tool_call_id`` when the app sends one, else by ``tool_name`` (the first open call of
    that name, so parallel calls of one tool pair up in order), else takes the first."""

    def __init__(self) -> None:
        self._open: list[ir.ToolCall] = []

    def add(self, call: ir.ToolCall) -> None:
        self._open.append(call)

    def answer(self, call_id: str | None, name: str | None) -> ir.ToolCall | None:
        match = next(
            (
                c
                for c in self._open
                if (c.id == call_id if call_id else name is None or c.name == name)
            ),
            None,
        )
        if match is not None:
            self._open.remove(match)
        return match


def _message(m: dict[str, Any], where: str, position: int, calls: _OpenCalls) -> ir.Message:
    role = expect(m.get("role"), str, f"{where}.role").lower()
    content = optional(m, "content", str, f"{where}.content") or ""
    images = tuple(
        _image(img, f"{where}.images[{j}]")
        for j, img in enumerate(optional(m, "images", list, f"{where}.images") or [])
    )
    extra = {k: v for k, v in m.items() if k not in MESSAGE_MODELLED}
    if role == "tool":
        return _tool_result(m, where, position, calls, content, images, extra)
    if role not in ("system", "user", "assistant"):
        raise ClientRequestError(
            f"'{where}.role' must be system, user, assistant or tool", param=f"{where}.role"
        )
    parts: list[ir.Part] = []
    thinking = optional(m, "thinking", str, f"{where}.thinking")
    if thinking:
        parts.append(ir.Reasoning(text=thinking, origin=NAME))
    if content:
        parts.append(ir.Text(text=content))
    parts += images
    for j, tc in enumerate(optional(m, "tool_calls", list, f"{where}.tool_calls") or []):
        at = f"{where}.tool_calls[{j}]"
        fn = expect(expect(tc, dict, at).get("function"), dict, f"{at}.function")
        expect(fn.get("name"), str, f"{at}.function.name")
        call = tool_call_in(tc, None, position * 100 + j)
        calls.add(call)
        parts.append(call)
    return ir.Message(role=role, parts=tuple(parts), native={NAME: extra} if extra else {})  # type: ignore[arg-type]


def _tool_result(
    m: dict[str, Any],
    where: str,
    position: int,
    calls: _OpenCalls,
    content: str,
    images: tuple[ir.File, ...],
    extra: dict[str, Any],
) -> ir.Message:
    wire_id = optional(m, "tool_call_id", str, f"{where}.tool_call_id")
    name = optional(m, "tool_name", str, f"{where}.tool_name")
    if name is None and isinstance(extra.get("name"), str):
        name = extra.pop("name")  # older clients name the tool like OpenAI
    match = calls.answer(wire_id, name)
    call_id = wire_id or (match.id if match else ids.derived_call_id(f"tool:{name}", position))
    text: tuple[ir.Text, ...] = (ir.Text(text=content),) if content or not images else ()
    result = ir.ToolResult(
        call_id=call_id,
        name=name or (match.name if match else None),
        content=text + images,
        native={NAME: {"tool_call_id": wire_id}} if wire_id else {},
    )
    return ir.Message(role="tool", parts=(result,), native={NAME: extra} if extra else {})


def tool_call_in(tc: dict[str, Any], seed: str | None, position: int) -> ir.ToolCall:
    """One ``tool_calls`` entry; arguments are an object on the wire, raw JSON text in the IR.

    The call's ``id`` is used when present; without one the id derives from ``seed`` (an
    answer's) or from the call itself (a request's history, stable across turns). Fields the
    IR does not model (``function.index``) stay in the call's native."""
    fn = as_dict(tc.get("function"))
    raw_name = fn.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    args = fn.get("arguments")
    text = args if isinstance(args, str) else "" if args is None else dumps_str(args)
    wire_id = tc.get("id") if isinstance(tc.get("id"), str) and tc.get("id") else None
    call_extra = {k: v for k, v in tc.items() if k != "function"}
    fn_extra = {k: v for k, v in fn.items() if k not in ("name", "arguments")}
    native: dict[str, Any] = {**call_extra}
    if fn_extra:
        native["function"] = fn_extra
    return ir.ToolCall(
        id=wire_id or ids.derived_call_id(seed if seed is not None else f"{name}:{text}", position),
        name=name,
        arguments=text,
        native={NAME: native} if native else {},
    )


def _image(value: Any, where: str) -> ir.File:
    data = normalise_base64(expect(value, str, where))
    return ir.File(kind="image", data=data, media_type=sniff_media_type(data))
