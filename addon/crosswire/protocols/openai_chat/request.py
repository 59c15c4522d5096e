"""OpenAI Chat Completions requests ⇄ IR.

Decoding trusts nothing (every wrong type is a 400 naming the field); encoding targets
OpenAI itself and OpenAI-compatible servers, whose quirks ``Target.dialect`` names.
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.protocols.base import ClientCall, Target, UpstreamCall
from crosswire.protocols.common import (
    data_url,
    dumps,
    expect,
    file_kind,
    loads_client,
    optional,
    parse_data_url,
)
from crosswire.protocols.openai_chat.mapping import effort_for_budget

NAME = "openai-chat"
_MODELLED = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tokens",
    "max_completion_tokens",
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
    "functions",
    "function_call",
}
_MESSAGE_KEYS = {
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "reasoning_content",
    "thinking_blocks",
    "function_call",
    "refusal",
    "reasoning",
}


# ---- decode (the app's request) --------------------------------------------------------------


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    model = optional(data, "model", str) or call.model or ""
    raw_messages = expect(data.get("messages"), list, "messages")
    calls_by_id: dict[str, str] = {}
    messages = tuple(_decode_message(m, i, calls_by_id) for i, m in enumerate(raw_messages))
    tools = _decode_tools(data)
    native_tools = tuple(
        ir.NativeTool(origin=NAME, data=t)
        for t in (data.get("tools") or [])
        if isinstance(t, dict) and t.get("type", "function") != "function"
    )
    stop = data.get("stop")
    if isinstance(stop, str):
        stops: tuple[str, ...] | None = (stop,)
    elif stop is None:
        stops = None
    else:
        stops = tuple(expect(s, str, "stop[]") for s in expect(stop, list, "stop"))
    max_tokens = optional(data, "max_completion_tokens", int) or optional(data, "max_tokens", int)
    seed = optional(data, "seed", int)
    if seed is None:
        seed = optional(data, "random_seed", int)  # Mistral SDK
    params = ir.Params(
        max_tokens=max_tokens,
        temperature=_num(data, "temperature"),
        top_p=_num(data, "top_p"),
        top_k=optional(data, "top_k", int),
        stop=stops,
        seed=seed,
        n=optional(data, "n", int),
        presence_penalty=_num(data, "presence_penalty"),
        frequency_penalty=_num(data, "frequency_penalty"),
    )
    effort = optional(data, "reasoning_effort", str)
    reasoning = None
    if effort is not None:
        reasoning = ir.ReasoningConfig(
            enabled=effort != "none", effort=None if effort == "none" else effort
        )
    stream_options = optional(data, "stream_options", dict) or {}
    include_usage = (
        stream_options.get("include_usage") if isinstance(stream_options, dict) else None
    )
    native = {k: v for k, v in data.items() if k not in _MODELLED}
    if isinstance(stream_options, dict):
        extra_opts = {k: v for k, v in stream_options.items() if k != "include_usage"}
        if extra_opts:
            native["stream_options"] = extra_opts
    return ir.Request(
        model=model,
        messages=messages,
        tools=tools,
        native_tools=native_tools,
        tool_choice=_decode_tool_choice(data.get("tool_choice", data.get("function_call"))),
        parallel_tool_calls=optional(data, "parallel_tool_calls", bool),
        params=params,
        reasoning=reasoning,
        response_format=_decode_format(data.get("response_format")),
        stream=bool(optional(data, "stream", bool)),
        include_usage=include_usage if isinstance(include_usage, bool) else None,
        user=optional(data, "user", str),
        native={NAME: native} if native else {},
    )


def _num(data: dict[str, Any], key: str) -> float | None:
    value = optional(data, key, (int, float))
    return None if value is None else float(value)


def _decode_message(raw: Any, index: int, calls_by_id: dict[str, str]) -> ir.Message:
    where = f"messages[{index}]"
    msg = expect(raw, dict, where)
    role = expect(msg.get("role"), str, f"{where}.role")
    native = {k: v for k, v in msg.items() if k not in _MESSAGE_KEYS}
    nat = {NAME: native} if native else {}
    name = optional(msg, "name", str, f"{where}.name")
    if role in ("system", "developer"):
        return ir.Message(
            role=role,
            parts=_text_parts(msg.get("content"), f"{where}.content"),
            name=name,
            native=nat,
        )
    if role == "user":
        return ir.Message(
            role="user",
            parts=_content_parts(msg.get("content"), f"{where}.content"),
            name=name,
            native=nat,
        )
    if role == "assistant":
        parts: list[ir.Part] = []
        parts += _reasoning_parts(msg)
        parts += (
            _content_parts(msg.get("content"), f"{where}.content")
            if msg.get("content") is not None
            else []
        )
        refusal = optional(msg, "refusal", str, f"{where}.refusal")
        if refusal:
            parts.append(ir.Text(text=refusal, native={NAME: {"refusal": True}}))
        for j, tc in enumerate(optional(msg, "tool_calls", list, f"{where}.tool_calls") or []):
            tc = expect(tc, dict, f"{where}.tool_calls[{j}]")
            fn = expect(tc.get("function"), dict, f"{where}.tool_calls[{j}].function")
            call_id = optional(tc, "id", str, f"{where}.tool_calls[{j}].id") or ids.derived_call_id(
                f"{index}:{fn.get('name')}", j
            )
            fname = expect(fn.get("name"), str, f"{where}.tool_calls[{j}].function.name")
            args = fn.get("arguments")
            if args is not None and not isinstance(args, str):
                args = json.dumps(args)  # some clients send an object
            calls_by_id[call_id] = fname
            tc_native = {
                k: v for k, v in tc.items() if k not in ("id", "type", "function", "index")
            }
            parts.append(
                ir.ToolCall(
                    id=call_id,
                    name=fname,
                    arguments=args or "",
                    native={NAME: tc_native} if tc_native else {},
                )
            )
        fc = msg.get("function_call")
        if isinstance(fc, dict) and isinstance(fc.get("name"), str):
            call_id = ids.derived_call_id(f"{index}:{fc['name']}", 0)
            calls_by_id[call_id] = fc["name"]
            parts.append(
                ir.ToolCall(id=call_id, name=fc["name"], arguments=str(fc.get("arguments") or ""))
            )
        return ir.Message(role="assistant", parts=tuple(parts), name=name, native=nat)
    if role == "tool":
        call_id = expect(msg.get("tool_call_id"), str, f"{where}.tool_call_id")
        content = _content_parts(msg.get("content"), f"{where}.content")
        result = ir.ToolResult(
            call_id=call_id,
            name=calls_by_id.get(call_id),
            content=tuple(p for p in content if isinstance(p, (ir.Text, ir.File))),
        )
        return ir.Message(role="tool", parts=(result,), native=nat)
    if role == "function":  # legacy
        fname = expect(msg.get("name"), str, f"{where}.name")
        call_id = next(
            (cid for cid, n in reversed(calls_by_id.items()) if n == fname),
            ids.derived_call_id(f"fn:{fname}", index),
        )
        content = _text_parts(msg.get("content"), f"{where}.content")
        return ir.Message(
            role="tool", parts=(ir.ToolResult(call_id=call_id, name=fname, content=content),)
        )
    from crosswire.ir.errors import ClientRequestError

    raise ClientRequestError(
        f"'{where}.role' must be system, developer, user, assistant or tool, got {role!r}",
        param=f"{where}.role",
    )


def _reasoning_parts(msg: dict[str, Any]) -> list[ir.Part]:
    """``thinking_blocks`` (the signed carrier) win over plain ``reasoning_content``."""
    blocks = msg.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        out: list[ir.Part] = []
        for b in blocks:
            if not isinstance(b, dict):
                continue
            origin = b.get("provider") if isinstance(b.get("provider"), str) else "anthropic"
            if b.get("type") == "redacted_thinking":
                out.append(ir.Reasoning(redacted=str(b.get("data") or ""), origin=origin))
            else:
                out.append(
                    ir.Reasoning(
                        text=str(b.get("thinking") or ""),
                        signature=b.get("signature") or None,
                        origin=origin,
                    )
                )
        return out
    text = msg.get("reasoning_content")
    if not isinstance(text, str):
        text = msg.get("reasoning") if isinstance(msg.get("reasoning"), str) else None
    return [ir.Reasoning(text=text, origin=NAME)] if text else []


def _text_parts(content: Any, where: str) -> tuple[ir.Part, ...]:
    return tuple(p for p in _content_parts(content, where))


def _content_parts(content: Any, where: str) -> tuple[ir.Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (ir.Text(text=content),) if content else ()
    items = expect(content, list, where)
    parts: list[ir.Part] = []
    for i, item in enumerate(items):
        item = expect(item, dict, f"{where}[{i}]")
        kind = item.get("type")
        if kind == "text":
            parts.append(
                ir.Text(
                    text=expect(item.get("text"), str, f"{where}[{i}].text"),
                    native=_extra(item, ("type", "text")),
                )
            )
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            url = expect(url, str, f"{where}[{i}].image_url.url")
            parsed = parse_data_url(url)
            detail = image.get("detail") if isinstance(image, dict) else None
            nat = {NAME: {"detail": detail}} if detail else {}
            if parsed:
                parts.append(
                    ir.File(kind="image", media_type=parsed[0], data=parsed[1], native=nat)
                )
            else:
                parts.append(ir.File(kind="image", url=url, native=nat))
        elif kind == "input_audio":
            audio = expect(item.get("input_audio"), dict, f"{where}[{i}].input_audio")
            fmt = optional(audio, "format", str) or "wav"
            parts.append(
                ir.File(
                    kind="audio",
                    media_type=f"audio/{fmt}",
                    data=expect(audio.get("data"), str, f"{where}[{i}].input_audio.data"),
                )
            )
        elif kind == "file":
            file = expect(item.get("file"), dict, f"{where}[{i}].file")
            fdata = optional(file, "file_data", str)
            parsed = parse_data_url(fdata) if fdata else None
            media = parsed[0] if parsed else None
            parts.append(
                ir.File(
                    kind=file_kind(media) if media else "document",
                    media_type=media or "application/pdf",  # type: ignore[arg-type]
                    data=parsed[1] if parsed else None,
                    file_id=optional(file, "file_id", str),
                    filename=optional(file, "filename", str),
                )
            )
        elif kind == "refusal":
            parts.append(
                ir.Text(text=str(item.get("refusal") or ""), native={NAME: {"refusal": True}})
            )
        else:
            parts.append(ir.Opaque(origin=NAME, data=item))
    return tuple(parts)


def _extra(item: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    rest = {k: v for k, v in item.items() if k not in known}
    return {NAME: rest} if rest else {}


def _decode_tools(data: dict[str, Any]) -> tuple[ir.Tool, ...]:
    tools: list[ir.Tool] = []
    for i, t in enumerate(optional(data, "tools", list) or []):
        t = expect(t, dict, f"tools[{i}]")
        if t.get("type", "function") != "function":
            continue
        fn = expect(t.get("function"), dict, f"tools[{i}].function")
        params = optional(fn, "parameters", dict, f"tools[{i}].function.parameters")
        tools.append(
            ir.Tool(
                name=expect(fn.get("name"), str, f"tools[{i}].function.name"),
                description=optional(fn, "description", str, f"tools[{i}].function.description"),
                parameters=params,
                strict=optional(fn, "strict", bool),
            )
        )
    for i, fn in enumerate(optional(data, "functions", list) or []):  # legacy
        fn = expect(fn, dict, f"functions[{i}]")
        tools.append(
            ir.Tool(
                name=expect(fn.get("name"), str, f"functions[{i}].name"),
                description=optional(fn, "description", str),
                parameters=optional(fn, "parameters", dict),
            )
        )
    return tuple(tools)


def _decode_tool_choice(value: Any) -> ir.ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        mode = {"auto": "auto", "none": "none", "required": "required", "any": "required"}.get(
            value
        )
        if mode is None:
            from crosswire.ir.errors import ClientRequestError

            raise ClientRequestError(
                f"'tool_choice' must be auto, none, required or a function, got {value!r}",
                param="tool_choice",
            )
        return ir.ToolChoice(mode=mode)  # type: ignore[arg-type]
    choice = expect(value, dict, "tool_choice")
    fn = choice.get("function") if isinstance(choice.get("function"), dict) else choice
    name = expect(fn.get("name"), str, "tool_choice.function.name")
    return ir.ToolChoice(mode="tool", name=name)


def _decode_format(value: Any) -> ir.ResponseFormat | None:
    if value is None:
        return None
    fmt = expect(value, dict, "response_format")
    kind = fmt.get("type")
    if kind == "json_object":
        return ir.ResponseFormat(type="json_object")
    if kind == "json_schema":
        js = expect(fmt.get("json_schema"), dict, "response_format.json_schema")
        return ir.ResponseFormat(
            type="json_schema",
            schema=optional(js, "schema", dict),
            name=optional(js, "name", str),
            strict=optional(js, "strict", bool),
            description=optional(js, "description", str),
        )
    if kind == "text":
        return ir.ResponseFormat(type="text")
    from crosswire.ir.errors import ClientRequestError

    raise ClientRequestError(
        f"'response_format.type' must be text, json_object or json_schema, got {kind!r}",
        param="response_format.type",
    )


# ---- encode (the upstream request) ---------------------------------------------------------


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    dialect = target.dialect
    same_origin = NAME in request.native
    body: dict[str, Any] = {}
    if dialect != "azure":
        body["model"] = target.model or request.model
    body["messages"] = _encode_messages(request, dialect, report)
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    k: v
                    for k, v in (
                        ("name", t.name),
                        ("description", t.description),
                        (
                            "parameters",
                            t.parameters
                            if t.parameters is not None
                            else {"type": "object", "properties": {}},
                        ),
                        ("strict", t.strict),
                    )
                    if v is not None
                },
            }
            for t in request.tools
        ]
    for nt in request.native_tools:
        if nt.origin == NAME:
            body.setdefault("tools", []).append(dict(nt.data))
        else:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name') or '?'}",
                f"a {nt.origin} server tool; {NAME} cannot run it",
            )
    choice = request.tool_choice
    if choice is not None and (request.tools or choice.mode == "none"):
        if choice.mode == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            body["tool_choice"] = (
                "any" if choice.mode == "required" and dialect == "mistral" else choice.mode
            )
    if request.parallel_tool_calls is not None and request.tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    p = request.params
    max_tokens = p.max_tokens
    if (
        max_tokens is not None
        and target.max_output_tokens is not None
        and max_tokens > target.max_output_tokens
    ):
        report.clamped("max_tokens", f"{max_tokens} → {target.max_output_tokens} (backend limit)")
        max_tokens = target.max_output_tokens
    if max_tokens is not None:
        body["max_completion_tokens" if dialect in ("openai", "azure") else "max_tokens"] = (
            max_tokens
        )
    if p.temperature is not None:
        body["temperature"] = min(2.0, max(0.0, p.temperature))
    if p.top_p is not None:
        body["top_p"] = p.top_p
    if p.top_k is not None:
        if dialect in ("vllm", "generic", "deepseek") or same_origin:
            body["top_k"] = p.top_k
        else:
            report.dropped("top_k", f"{dialect} Chat Completions has no top_k")
    if p.stop:
        stops = [s for s in p.stop if s]
        if dialect == "openai" and len(stops) > 4:
            report.clamped("stop", f"{len(stops)} stop sequences → the first 4 (OpenAI's limit)")
            stops = stops[:4]
        if stops:
            body["stop"] = stops
    if p.seed is not None:
        body["random_seed" if dialect == "mistral" else "seed"] = p.seed
    if p.n is not None and p.n != 1:
        body["n"] = p.n
    if p.presence_penalty is not None:
        body["presence_penalty"] = p.presence_penalty
    if p.frequency_penalty is not None:
        body["frequency_penalty"] = p.frequency_penalty
    if p.min_tokens is not None:
        report.dropped("min_tokens", "Chat Completions has no minimum length")
    r = request.reasoning
    if r is not None:
        if r.enabled is False:
            if dialect == "openai":
                body["reasoning_effort"] = "none" if same_origin else "minimal"
        elif r.effort:
            body["reasoning_effort"] = r.effort
        elif r.budget_tokens:
            body["reasoning_effort"] = effort_for_budget(r.budget_tokens)
            report.moved(
                "thinking.budget_tokens",
                f"budget {r.budget_tokens} → reasoning_effort {body['reasoning_effort']}",
            )
        elif r.adaptive or r.enabled:
            body["reasoning_effort"] = "medium"
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            js: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
            if fmt.strict is not None:
                js["strict"] = fmt.strict
            if fmt.description:
                js["description"] = fmt.description
            body["response_format"] = {"type": "json_schema", "json_schema": js}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # always: usage is accounted (edge 24)
    if request.user is not None and dialect != "mistral":
        body["user"] = request.user
    for key, value in (request.native.get(NAME) or {}).items():
        if key == "stream_options" and isinstance(value, dict) and "stream_options" in body:
            body["stream_options"] = {**value, **body["stream_options"]}
        else:
            body.setdefault(key, value)
    if dialect == "azure":
        path = f"/openai/deployments/{target.model}/chat/completions"
        query = {"api-version": target.api_version or "2024-10-21"}
        return UpstreamCall(
            path=path,
            query=query,
            body=dumps(body),
            stream=request.stream,
            headers={"content-type": "application/json"},
        )
    return UpstreamCall(
        path="/chat/completions",
        body=dumps(body),
        stream=request.stream,
        headers={"content-type": "application/json"},
    )


def _encode_messages(request: ir.Request, dialect: str, report: ir.Report) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    idf = (lambda v: ids.alnum_id(v)) if dialect == "mistral" else (lambda v: ids.safe_id(v))
    keep_names = dialect not in ("mistral",)
    for msg in request.messages:
        role = msg.role
        nat = dict(msg.native.get(NAME) or {})
        if role in ("system", "developer"):
            if role == "developer" and dialect != "openai":
                role = "system"
            text = "".join(p.text for p in msg.parts if isinstance(p, ir.Text))
            entry: dict[str, Any] = {"role": role, "content": text}
            if msg.name and keep_names:
                entry["name"] = msg.name
            out.append({**nat, **entry})
        elif role == "user":
            if dialect == "mistral" and out and out[-1]["role"] == "tool":
                out.append({"role": "assistant", "content": "Understood."})  # edge 43
                report.invented(
                    "assistant message", "Mistral refuses a user turn right after tool results"
                )
            content = _encode_content(msg.parts, report)
            entry = {"role": "user", "content": content}
            if msg.name and keep_names:
                entry["name"] = msg.name
            out.append({**nat, **entry})
        elif role == "assistant":
            entry = {"role": "assistant"}
            texts = [
                p.text
                for p in msg.parts
                if isinstance(p, ir.Text) and not (p.native.get(NAME) or {}).get("refusal")
            ]
            calls = [p for p in msg.parts if isinstance(p, ir.ToolCall)]
            text = "".join(texts)
            entry["content"] = text if text or not calls else None  # edge 49
            if calls:
                entry["tool_calls"] = [
                    {
                        **(c.native.get(NAME) or {}),
                        "id": idf(c.id),
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments or "{}"},
                    }
                    for c in calls
                ]
            reasoning = [p for p in msg.parts if isinstance(p, ir.Reasoning)]
            if reasoning:
                own = [r for r in reasoning if r.origin == NAME]
                if dialect in ("deepseek", "vllm", "generic") or own:
                    joined = "".join(r.text for r in reasoning)
                    if joined:
                        entry["reasoning_content"] = joined
                if any(
                    r.origin != NAME and (r.signature or r.redacted) for r in reasoning
                ) and dialect not in ("deepseek", "vllm"):
                    report.dropped(
                        "thinking signature",
                        f"{dialect} cannot verify another provider's signed reasoning",
                    )
            for p in msg.parts:
                if isinstance(p, ir.Opaque) and p.origin != NAME:
                    report.dropped(
                        f"{p.data.get('type', 'block')}", f"a {p.origin} block {NAME} cannot carry"
                    )
            if msg.name and keep_names:
                entry["name"] = msg.name
            out.append({**nat, **entry})
        elif role == "tool":
            images: list[ir.Part] = []
            for part in msg.parts:
                if not isinstance(part, ir.ToolResult):
                    continue
                text = "".join(c.text for c in part.content if isinstance(c, ir.Text))
                files = [c for c in part.content if isinstance(c, ir.File)]
                if part.is_error:
                    text = f"Error: {text}" if text else "Error"  # edge 40
                if files and not text:
                    text = f"(the tool returned {len(files)} file(s), attached in the next message)"
                entry = {"role": "tool", "tool_call_id": idf(part.call_id), "content": text}
                if dialect == "mistral" and part.name:
                    entry["name"] = part.name
                out.append(entry)
                images += files
            if images:  # edge 41: images of tool results follow in a user message
                out.append({"role": "user", "content": _encode_content(tuple(images), report)})
                report.moved("tool_result images", "sent in a user message after the tool results")
    return out


def _encode_content(parts: tuple[ir.Part, ...], report: ir.Report) -> str | list[dict[str, Any]]:
    if all(isinstance(p, ir.Text) for p in parts):
        texts = [p.text for p in parts if isinstance(p, ir.Text)]
        if len(texts) <= 1 and not any(p.native.get(NAME) for p in parts):
            return texts[0] if texts else ""
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, ir.Text):
            out.append({**(p.native.get(NAME) or {}), "type": "text", "text": p.text})
        elif isinstance(p, ir.File):
            if p.kind == "image":
                url = p.url if p.url else data_url(p.media_type, p.data or "")
                image: dict[str, Any] = {"url": url}
                if (p.native.get(NAME) or {}).get("detail"):
                    image["detail"] = p.native[NAME]["detail"]
                out.append({"type": "image_url", "image_url": image})
            elif p.kind == "audio" and p.data:
                fmt = (p.media_type or "audio/wav").split("/")[-1]
                out.append({"type": "input_audio", "input_audio": {"data": p.data, "format": fmt}})
            else:
                file: dict[str, Any] = {}
                if p.data:
                    file["file_data"] = data_url(p.media_type or "application/pdf", p.data)
                if p.file_id:
                    file["file_id"] = p.file_id
                if p.filename:
                    file["filename"] = p.filename
                if not file:
                    from crosswire.ir.errors import UnsupportedFeature

                    raise UnsupportedFeature(
                        f"a document given by URL ({p.url}) cannot be sent to Chat Completions",
                        param="content",
                    )
                out.append({"type": "file", "file": file})
        elif isinstance(p, ir.Opaque):
            if p.origin == NAME:
                out.append(dict(p.data))
            else:
                report.dropped(
                    str(p.data.get("type", "block")), f"a {p.origin} block {NAME} cannot carry"
                )
    return out
