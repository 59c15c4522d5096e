"""OpenAI Responses requests ⇄ IR.

``input`` items become IR messages: messages keep their role, ``function_call`` items join the
assistant turn before them, ``function_call_output`` items form a tool turn, ``reasoning``
items (summary + ``encrypted_content``) are reasoning parts whose opaque state only returns to
Responses. ``previous_response_id`` needs server-side state a converter does not have: it is
refused with a 400 that says how to send the full input instead (a same-protocol passthrough
never decodes, so it still works there).
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import ClientRequestError, UnsupportedFeature
from crosswire.protocols.base import ClientCall, Target, UpstreamCall
from crosswire.protocols.common import (
    as_list,
    data_url,
    dumps,
    expect,
    file_kind,
    loads_client,
    optional,
    parse_data_url,
)

NAME = "openai-responses"
_MODELLED = {
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
    "previous_response_id",
    "conversation",
}
EFFORT_FOR_BUDGET = ((1024, "minimal"), (4096, "low"), (12000, "medium"), (24000, "high"))


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    for field in ("previous_response_id", "conversation"):
        if data.get(field) is not None:
            raise UnsupportedFeature(
                f"'{field}' needs the conversation stored on OpenAI's side, which this backend does not have; "
                "send the whole conversation in 'input' with store: false",
                param=field,
            )
    messages: list[ir.Message] = []
    instructions = optional(data, "instructions", str)
    if instructions:
        messages.append(ir.Message(role="system", parts=(ir.Text(text=instructions),)))
    raw_input = data.get("input")
    if isinstance(raw_input, str):
        messages.append(ir.Message(role="user", parts=(ir.Text(text=raw_input),)))
    elif raw_input is not None:
        names: dict[str, str] = {}
        for i, item in enumerate(expect(raw_input, list, "input")):
            _decode_item(expect(item, dict, f"input[{i}]"), f"input[{i}]", messages, names)
    tools: list[ir.Tool] = []
    native_tools: list[ir.NativeTool] = []
    for i, t in enumerate(optional(data, "tools", list) or []):
        t = expect(t, dict, f"tools[{i}]")
        if t.get("type") == "function":
            tools.append(
                ir.Tool(
                    name=expect(t.get("name"), str, f"tools[{i}].name"),
                    description=optional(t, "description", str),
                    parameters=optional(t, "parameters", dict),
                    strict=optional(t, "strict", bool),
                )
            )
        else:
            native_tools.append(ir.NativeTool(origin=NAME, data=t))
    choice = data.get("tool_choice")
    tool_choice = None
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise ClientRequestError(
                f"'tool_choice' must be auto, none, required or a function, got {choice!r}",
                param="tool_choice",
            )
        tool_choice = ir.ToolChoice(mode=choice)  # type: ignore[arg-type]
    elif isinstance(choice, dict) and choice.get("type") == "function":
        tool_choice = ir.ToolChoice(
            mode="tool", name=expect(choice.get("name"), str, "tool_choice.name")
        )
    text = optional(data, "text", dict) or {}
    fmt = None
    raw_fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(raw_fmt, dict):
        kind = raw_fmt.get("type")
        if kind == "json_schema":
            fmt = ir.ResponseFormat(
                type="json_schema",
                schema=raw_fmt.get("schema"),
                name=raw_fmt.get("name"),
                strict=raw_fmt.get("strict"),
                description=raw_fmt.get("description"),
            )
        elif kind == "json_object":
            fmt = ir.ResponseFormat(type="json_object")
    reasoning_raw = optional(data, "reasoning", dict)
    reasoning = None
    if reasoning_raw:
        effort = reasoning_raw.get("effort")
        reasoning = ir.ReasoningConfig(
            enabled=effort != "none" if isinstance(effort, str) else None,
            effort=effort if isinstance(effort, str) and effort != "none" else None,
            summary=reasoning_raw.get("summary")
            if isinstance(reasoning_raw.get("summary"), str)
            else None,
            include_thoughts=True,
        )
    native = {k: v for k, v in data.items() if k not in _MODELLED}
    if isinstance(text, dict):
        rest = {k: v for k, v in text.items() if k != "format"}
        if rest:
            native["text"] = rest
    temperature, top_p = (
        optional(data, "temperature", (int, float)),
        optional(data, "top_p", (int, float)),
    )
    return ir.Request(
        model=optional(data, "model", str) or "",
        messages=tuple(messages),
        tools=tuple(tools),
        native_tools=tuple(native_tools),
        tool_choice=tool_choice,
        parallel_tool_calls=optional(data, "parallel_tool_calls", bool),
        params=ir.Params(
            max_tokens=optional(data, "max_output_tokens", int),
            temperature=None if temperature is None else float(temperature),
            top_p=None if top_p is None else float(top_p),
        ),
        reasoning=reasoning,
        response_format=fmt,
        stream=bool(optional(data, "stream", bool)),
        include_usage=True,
        user=optional(data, "user", str),
        native={NAME: native} if native else {},
    )


def _append(messages: list[ir.Message], role: str, part: ir.Part) -> None:
    if messages and messages[-1].role == role and role in ("assistant", "tool"):
        last = messages[-1]
        messages[-1] = ir.Message(
            role=last.role, parts=(*last.parts, part), name=last.name, native=last.native
        )
    else:
        messages.append(ir.Message(role=role, parts=(part,)))  # type: ignore[arg-type]


def _decode_item(
    item: dict[str, Any], where: str, messages: list[ir.Message], names: dict[str, str]
) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = expect(item.get("role"), str, f"{where}.role")
        if role not in ("user", "assistant", "system", "developer"):
            raise ClientRequestError(
                f"'{where}.role' must be user, assistant, system or developer",
                param=f"{where}.role",
            )
        content = item.get("content")
        parts = _content(content, f"{where}.content")
        if role == "assistant" and messages and messages[-1].role == "assistant":
            for p in parts:
                _append(messages, "assistant", p)
        else:
            extra = {k: v for k, v in item.items() if k not in ("type", "role", "content")}
            messages.append(
                ir.Message(role=role, parts=parts, native={NAME: extra} if extra else {})
            )  # type: ignore[arg-type]
    elif kind == "function_call":
        call_id = str(item.get("call_id") or item.get("id") or "")
        name = expect(item.get("name"), str, f"{where}.name")
        names[call_id] = name
        args = item.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args)
        nat = {"id": item["id"]} if isinstance(item.get("id"), str) else {}
        _append(
            messages,
            "assistant",
            ir.ToolCall(
                id=call_id, name=name, arguments=args or "", native={NAME: nat} if nat else {}
            ),
        )
    elif kind == "function_call_output":
        call_id = expect(item.get("call_id"), str, f"{where}.call_id")
        output = item.get("output")
        content: tuple[ir.Part, ...] = (
            (ir.Text(text=output),)
            if isinstance(output, str)
            else _content(output, f"{where}.output")
        )
        _append(
            messages,
            "tool",
            ir.ToolResult(
                call_id=call_id,
                name=names.get(call_id),
                content=tuple(p for p in content if isinstance(p, (ir.Text, ir.File))),
            ),
        )
    elif kind == "reasoning":
        summary = as_list(item.get("summary"))
        text = "\n\n".join(str(s.get("text") or "") for s in summary if isinstance(s, dict))
        nat = {"id": item["id"]} if isinstance(item.get("id"), str) else {}
        enc = item.get("encrypted_content")
        _append(
            messages,
            "assistant",
            ir.Reasoning(
                text=text,
                signature=enc if isinstance(enc, str) else None,
                origin=NAME,
                native={NAME: nat} if nat else {},
            ),
        )
    elif kind == "item_reference":
        raise UnsupportedFeature(
            "'item_reference' items need OpenAI's stored items; send the items themselves",
            param=f"{where}.type",
        )
    else:
        _append(messages, "assistant", ir.Opaque(origin=NAME, data=item))


def _content(content: Any, where: str) -> tuple[ir.Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (ir.Text(text=content),)
    out: list[ir.Part] = []
    for i, c in enumerate(expect(content, list, where)):
        c = expect(c, dict, f"{where}[{i}]")
        kind = c.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text"):
            out.append(ir.Text(text=expect(c.get("text"), str, f"{where}[{i}].text")))
        elif kind == "refusal":
            out.append(ir.Text(text=str(c.get("refusal") or "")))
        elif kind == "input_image":
            url = c.get("image_url")
            nat = {NAME: {"detail": c["detail"]}} if c.get("detail") else {}
            if isinstance(url, str):
                parsed = parse_data_url(url)
                out.append(
                    ir.File(kind="image", media_type=parsed[0], data=parsed[1], native=nat)
                    if parsed
                    else ir.File(kind="image", url=url, native=nat)
                )
            else:
                out.append(ir.File(kind="image", file_id=optional(c, "file_id", str), native=nat))
        elif kind == "input_file":
            fdata = c.get("file_data")
            parsed = parse_data_url(fdata) if isinstance(fdata, str) else None
            media = parsed[0] if parsed else None
            out.append(
                ir.File(
                    kind=file_kind(media) if media else "document",
                    media_type=media,  # type: ignore[arg-type]
                    data=parsed[1] if parsed else None,
                    url=optional(c, "file_url", str),
                    file_id=optional(c, "file_id", str),
                    filename=optional(c, "filename", str),
                )
            )
        else:
            out.append(ir.Opaque(origin=NAME, data=c))
    return tuple(out)


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    body: dict[str, Any] = {"model": target.model or request.model}
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    leading = True
    for msg in request.messages:
        if msg.role in ("system", "developer") and leading:
            instructions.append("".join(p.text for p in msg.parts if isinstance(p, ir.Text)))
            continue
        leading = False
        if msg.role in ("system", "developer", "user"):
            items.append(
                {
                    "role": msg.role,
                    "content": [
                        _part_out(p, "input", report)
                        for p in msg.parts
                        if _part_out(p, "input", report) is not None
                    ],
                }
            )
        elif msg.role == "assistant":
            texts: list[dict[str, Any]] = []
            for p in msg.parts:
                if isinstance(p, ir.Text):
                    texts.append({"type": "output_text", "text": p.text})
                    continue
                if texts:
                    items.append({"role": "assistant", "content": texts})
                    texts = []
                if isinstance(p, ir.ToolCall):
                    item: dict[str, Any] = {
                        "type": "function_call",
                        "call_id": p.id,
                        "name": p.name,
                        "arguments": p.arguments or "{}",
                    }
                    fc = (p.native.get(NAME) or {}).get("id")
                    if fc:
                        item["id"] = fc
                    items.append(item)
                elif isinstance(p, ir.Reasoning):
                    if p.origin == NAME and p.signature:
                        ritem: dict[str, Any] = {
                            "type": "reasoning",
                            "encrypted_content": p.signature,
                            "summary": [{"type": "summary_text", "text": p.text}] if p.text else [],
                        }
                        items.append(
                            ritem
                        )  # no id: with store false an id cannot be resolved (edge 70)
                    elif p.text or p.signature or p.redacted:
                        report.dropped(
                            "reasoning",
                            f"{p.origin or 'unsigned'} reasoning cannot be replayed to Responses",
                        )
                elif isinstance(p, ir.Opaque):
                    if p.origin == NAME:
                        items.append(dict(p.data))
                    else:
                        report.dropped(
                            str(p.data.get("type", "block")),
                            f"a {p.origin} block Responses cannot carry",
                        )
            if texts:
                items.append({"role": "assistant", "content": texts})
        elif msg.role == "tool":
            for p in msg.parts:
                if not isinstance(p, ir.ToolResult):
                    continue
                text = "".join(c.text for c in p.content if isinstance(c, ir.Text))
                if p.is_error:
                    text = f"Error: {text}"
                files = [c for c in p.content if isinstance(c, ir.File)]
                output: Any = text
                if files:
                    output = ([{"type": "input_text", "text": text}] if text else []) + [
                        _part_out(f, "input", report) for f in files
                    ]
                items.append(
                    {"type": "function_call_output", "call_id": p.call_id, "output": output}
                )
    if instructions:
        body["instructions"] = "\n\n".join(instructions)
    body["input"] = items
    if request.tools:
        body["tools"] = [
            {
                k: v
                for k, v in (
                    ("type", "function"),
                    ("name", t.name),
                    ("description", t.description),
                    ("parameters", t.parameters or {"type": "object", "properties": {}}),
                    ("strict", t.strict if t.strict is not None else False),
                )
                if v is not None
            }
            for t in request.tools
        ]
    for nt in request.native_tools:
        if nt.origin == NAME:
            body.setdefault("tools", []).append(dict(nt.data))
        else:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name')}", f"a {nt.origin} server tool"
            )
    choice = request.tool_choice
    if choice is not None and (request.tools or choice.mode == "none"):
        body["tool_choice"] = (
            {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
        )
    if request.parallel_tool_calls is not None and request.tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    params = request.params
    max_tokens = params.max_tokens
    if (
        max_tokens is not None
        and target.max_output_tokens is not None
        and max_tokens > target.max_output_tokens
    ):
        report.clamped(
            "max_output_tokens", f"{max_tokens} → {target.max_output_tokens} (backend limit)"
        )
        max_tokens = target.max_output_tokens
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.top_p is not None:
        body["top_p"] = params.top_p
    for name, value in (
        ("stop", params.stop),
        ("seed", params.seed),
        ("top_k", params.top_k),
        ("presence_penalty", params.presence_penalty),
        ("frequency_penalty", params.frequency_penalty),
    ):
        if value:
            report.dropped(name, "the Responses API has no such parameter")
    if params.n is not None and params.n > 1:
        raise UnsupportedFeature("'n' > 1: the Responses API returns one answer", param="n")
    r = request.reasoning
    if r is not None:
        effort = r.effort
        if r.enabled is False:
            effort = "minimal"
        elif effort is None and r.budget_tokens:
            effort = next((e for limit, e in EFFORT_FOR_BUDGET if r.budget_tokens <= limit), "high")
        elif effort is None:
            effort = "medium"
        body["reasoning"] = {
            "effort": effort,
            **({"summary": r.summary} if r.summary else {"summary": "auto"}),
        }
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        if fmt.type == "json_object":
            body["text"] = {"format": {"type": "json_object"}}
        else:
            f: dict[str, Any] = {
                "type": "json_schema",
                "name": fmt.name or "response",
                "schema": fmt.schema or {},
            }
            if fmt.strict is not None:
                f["strict"] = fmt.strict
            body["text"] = {"format": f}
    native = dict(request.native.get(NAME) or {})
    body.setdefault("store", native.pop("store", False))
    if body["store"] is False and "reasoning" in body:
        include = list(native.pop("include", []) or [])
        if "reasoning.encrypted_content" not in include:
            include.append("reasoning.encrypted_content")
        body["include"] = include
    if request.user:
        body["user"] = request.user
    if request.stream:
        body["stream"] = True
    for key, value in native.items():
        if key == "text" and isinstance(value, dict):
            body["text"] = {**value, **body.get("text", {})}
        else:
            body.setdefault(key, value)
    path, query = "/responses", {}
    if target.dialect == "azure":
        path, query = "/openai/v1/responses", {"api-version": target.api_version or "preview"}
    _ = ids
    return UpstreamCall(
        path=path,
        query=query,
        body=dumps(body),
        stream=request.stream,
        headers={"content-type": "application/json"},
    )


def _part_out(p: ir.Part, direction: str, report: ir.Report) -> dict[str, Any] | None:
    if isinstance(p, ir.Text):
        return {"type": "input_text", "text": p.text}
    if isinstance(p, ir.File):
        if p.kind == "image":
            out: dict[str, Any] = {
                "type": "input_image",
                "detail": (p.native.get(NAME) or {}).get("detail", "auto"),
            }
            if p.file_id:
                out["file_id"] = p.file_id
            else:
                out["image_url"] = p.url or data_url(p.media_type, p.data or "")
            return out
        if p.kind == "audio":
            raise UnsupportedFeature(
                "audio input: the Responses API takes no audio here", param="input"
            )
        f: dict[str, Any] = {"type": "input_file"}
        if p.data:
            f["file_data"] = data_url(p.media_type or "application/pdf", p.data)
            f["filename"] = p.filename or "document.pdf"
        elif p.url:
            f["file_url"] = p.url
        elif p.file_id:
            f["file_id"] = p.file_id
        return f
    if isinstance(p, ir.Opaque) and p.origin == NAME:
        return dict(p.data)
    if isinstance(p, ir.Opaque):
        report.dropped(
            str(p.data.get("type", "block")), f"a {p.origin} block Responses cannot carry"
        )
    return None
