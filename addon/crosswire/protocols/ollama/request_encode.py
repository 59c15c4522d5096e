"""IR request → an Ollama ``/api/chat`` (messages) or ``/api/generate`` (FIM prompt) body.

Sampling parameters go into ``options`` (``max_tokens`` is ``num_predict``); reasoning is ``think`` (a level when the IR has an effort, else a boolean);
a response format is ``format``. What an Ollama app sent that the IR does not model comes back
from ``Request.native["ollama"]`` unchanged (modelled fields win), including tool-call ``id``
and ``tool_call_id`` when the app sent them. What Ollama cannot express is dropped with a
note: ``tool_choice``, server tools, a thinking budget, ``min_tokens``.
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import dumps, parse_data_url, set_fields, sniff_media_type
from crosswire.protocols.ollama.mapping import (
    EFFORT_OFF,
    EFFORT_OUT,
    NAME,
    OPTIONS_IN,
    THINK_LEVELS,
)

_HEADERS = {"content-type": "application/json"}


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    native = dict(request.native.get(NAME) or {})
    body: dict[str, Any] = {"model": target.model or request.model}
    options = _options(request, report, native.pop("options", None))
    if options:
        body["options"] = options
    think = think_out(request.reasoning, report)
    if think is not None:
        body["think"] = think
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["format"] = dict(fmt.schema) if fmt.type == "json_schema" and fmt.schema else "json"
    body["stream"] = request.stream
    if request.user is not None:
        report.dropped("user", "Ollama has no end-user field")
    if request.fim is not None:
        body["prompt"] = request.fim.prefix
        if request.fim.suffix is not None:
            body["suffix"] = request.fim.suffix
        system = "\n".join(
            p.text
            for m in request.messages
            if m.role in ("system", "developer")
            for p in m.parts
            if isinstance(p, ir.Text)
        )
        if system:
            body["system"] = system
        path = "/api/generate"
    else:
        body["messages"] = messages_out(request.messages, report)
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        _unsupported_tools(request, report)
        path = "/api/chat"
    body.update({k: v for k, v in native.items() if k not in body})
    return UpstreamCall(path=path, body=dumps(body), stream=request.stream, headers=_HEADERS)


# ---- top-level fields -----------------------------------------------------------------------


def _options(request: ir.Request, report: ir.Report, native: Any) -> dict[str, Any]:
    p = request.params
    if p.n is not None and p.n > 1:
        raise UnsupportedFeature("'n' > 1: Ollama returns one answer", param="n")
    if p.min_tokens is not None:
        report.dropped("min_tokens", "Ollama has no minimum length")
    options = set_fields({}, *((key, getattr(p, attr)) for key, attr in OPTIONS_IN.items()))
    if p.stop:
        options["stop"] = list(p.stop)
    if isinstance(native, dict):
        options.update({k: v for k, v in native.items() if k not in options})
    return options


def think_out(r: ir.ReasoningConfig | None, report: ir.Report) -> bool | str | None:
    """``think``: the IR effort as a level (nearest one when outside Ollama's scale), or a
    boolean. A token budget has no Ollama equivalent."""
    if r is None:
        return None
    effort = (r.effort or "").lower()
    if r.enabled is False or effort in EFFORT_OFF:
        return False
    if r.budget_tokens is not None:
        report.dropped("reasoning.budget_tokens", "Ollama's think has no token budget")
    if effort in THINK_LEVELS:
        return effort
    if effort in EFFORT_OUT:
        report.clamped("reasoning.effort", f"{effort} → {EFFORT_OUT[effort]} (Ollama's levels)")
        return EFFORT_OUT[effort]
    if effort:
        report.dropped("reasoning.effort", f"{effort!r} is not an Ollama think level")
    return True


def _tool(t: ir.Tool) -> dict[str, Any]:
    own = _own(t.native)
    fn: dict[str, Any] = {**(own.pop("function", None) or {}), "name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    fn["parameters"] = t.parameters or {"type": "object", "properties": {}}
    return {**own, "type": "function", "function": fn}


def _unsupported_tools(request: ir.Request, report: ir.Report) -> None:
    for nt in request.native_tools:
        if nt.origin != NAME:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name')}", f"a {nt.origin} server tool"
            )
    choice = request.tool_choice
    if choice is not None and choice.mode != "auto":
        report.dropped("tool_choice", "Ollama has no tool_choice; the model decides")
    if request.parallel_tool_calls is False:
        report.dropped("parallel_tool_calls", "Ollama cannot forbid parallel calls")


# ---- messages -------------------------------------------------------------------------------


def messages_out(messages: tuple[ir.Message, ...], report: ir.Report) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # call id → tool name, for results that lack the name
    for msg in messages:
        if msg.name is not None:
            report.dropped("messages[].name", "Ollama messages have no author name")
        if msg.role == "tool":
            out += _tool_results(msg, names, report)
            continue
        role = "system" if msg.role == "developer" else msg.role
        entry: dict[str, Any] = {**_own(msg.native), "role": role}
        entry["content"] = "".join(p.text for p in msg.parts if isinstance(p, ir.Text))
        thinking = _thinking(msg, report)
        if thinking and role == "assistant":
            entry["thinking"] = thinking
        images = [image_out(p) for p in msg.parts if isinstance(p, ir.File)]
        if images:
            entry["images"] = images
        calls = [p for p in msg.parts if isinstance(p, ir.ToolCall)]
        for c in calls:
            names[c.id] = c.name
        if calls:
            entry["tool_calls"] = [tool_call_out(c, passthrough=True) for c in calls]
        for p in msg.parts:
            if isinstance(p, ir.Opaque):
                report.dropped(
                    f"{p.origin} block {p.data.get('type', '')}".strip(), "no Ollama form"
                )
        out.append(entry)
    return out


def _tool_results(
    msg: ir.Message, names: dict[str, str], report: ir.Report
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    images: list[str] = []
    for part in msg.parts:
        if not isinstance(part, ir.ToolResult):
            continue
        text = "".join(c.text for c in part.content if isinstance(c, ir.Text))
        images += [image_out(c) for c in part.content if isinstance(c, ir.File)]
        entry: dict[str, Any] = {
            **_own(msg.native),
            "role": "tool",
            "content": f"Error: {text}" if part.is_error else text,
        }
        name = part.name or names.get(part.call_id)
        if name:
            entry["tool_name"] = name
        if "tool_call_id" in _own(part.native):
            entry["tool_call_id"] = part.call_id
        out.append(entry)
    if images:
        out.append({"role": "user", "content": "", "images": images})
        report.moved("tool_result images", "Ollama takes a result's images on a user message")
    return out


def _thinking(msg: ir.Message, report: ir.Report) -> str:
    """Reasoning text for ``thinking`` (Ollama keeps no signatures: others' are dropped)."""
    texts = []
    for p in msg.parts:
        if isinstance(p, ir.Reasoning):
            if p.origin != NAME and (p.signature or p.redacted):
                report.dropped("reasoning signature", f"{p.origin}'s opaque reasoning state")
            texts.append(p.text)
    return "".join(texts)


def tool_call_out(call: ir.ToolCall, *, passthrough: bool) -> dict[str, Any]:
    """A ``tool_calls`` entry. ``id`` (and ``function.index``) only go back to an Ollama
    server that sent them: the ``ollama`` package's types have neither, so answers to apps
    (``passthrough=False``) carry only the function."""
    own = _own(call.native)
    fn: dict[str, Any] = {
        **(own.get("function") or {} if passthrough else {}),
        "name": call.name,
        "arguments": arguments_object(call.arguments),
    }
    entry: dict[str, Any] = {"function": fn}
    if passthrough:
        entry = {**{k: v for k, v in own.items() if k != "function"}, **entry}
        if "id" in own:
            entry["id"] = call.id
    return entry


def arguments_object(arguments: str) -> Any:
    """IR argument text → the object Ollama wants (``""`` is ``{}``; a non-object is
    wrapped so the call still reaches the model)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def image_out(part: ir.File) -> str:
    """Raw base64: Ollama takes no URLs and only images."""
    data = part.data
    if data is None and part.url:
        parsed = parse_data_url(part.url)
        data = parsed[1] if parsed else None
        if data is None:
            raise UnsupportedFeature(
                f"Ollama takes images as base64 only, not by URL ({part.url})", param="images"
            )
    if data is None:
        raise UnsupportedFeature(
            "Ollama takes images as base64 only, not by file id", param="images"
        )
    media = part.media_type or sniff_media_type(data)
    if part.kind not in ("image", "file") or (media is not None and not media.startswith("image/")):
        raise UnsupportedFeature(
            f"Ollama takes only images, not {media or part.kind}", param="images"
        )
    return data


def _own(native: ir.Native) -> dict[str, Any]:
    return dict(native.get(NAME) or {})
