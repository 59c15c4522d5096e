"""Anthropic Messages requests ⇄ IR.

Decoding keeps every block's unknown fields (``cache_control``, ``citations``…) in its native
map and turns unknown block types into opaque parts — Claude Code sends new ones with every
release. Encoding follows the Messages rules: one ``system`` slot, user first, alternating
turns, tool results first in the user turn after the calls, no empty text blocks.
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import ClientRequestError, UnsupportedFeature
from crosswire.ir.parts import FileKind
from crosswire.protocols.anthropic.mapping import EFFORT_BUDGET, IMAGE_TYPES
from crosswire.protocols.base import ClientCall, Target, UpstreamCall
from crosswire.protocols.common import (
    dumps,
    expect,
    file_kind,
    loads_client,
    normalise_base64,
    normalise_media_type,
    optional,
    parse_data_url,
    sniff_media_type,
)

NAME = "anthropic"
ANTHROPIC_VERSION = "2023-06-01"
_MODELLED = {
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


# ---- decode ----------------------------------------------------------------------------------


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    data = loads_client(body)
    messages: list[ir.Message] = []
    system = data.get("system")
    if isinstance(system, str):
        if system:
            messages.append(ir.Message(role="system", parts=(ir.Text(text=system),)))
    elif system is not None:
        blocks = expect(system, list, "system")
        parts = tuple(_text_block(b, f"system[{i}]") for i, b in enumerate(blocks))
        messages.append(ir.Message(role="system", parts=parts))
    names: dict[str, str] = {}
    for i, raw in enumerate(expect(data.get("messages"), list, "messages")):
        messages.extend(_decode_message(raw, f"messages[{i}]", names))
    tools: list[ir.Tool] = []
    native_tools: list[ir.NativeTool] = []
    for i, t in enumerate(optional(data, "tools", list) or []):
        t = expect(t, dict, f"tools[{i}]")
        kind = t.get("type")
        if kind in (None, "custom") and "input_schema" in t:
            extra = {
                k: v
                for k, v in t.items()
                if k not in ("name", "description", "input_schema", "type")
            }
            tools.append(
                ir.Tool(
                    name=expect(t.get("name"), str, f"tools[{i}].name"),
                    description=optional(t, "description", str, f"tools[{i}].description"),
                    parameters=expect(t.get("input_schema"), dict, f"tools[{i}].input_schema"),
                    native={NAME: extra} if extra else {},
                )
            )
        else:
            native_tools.append(ir.NativeTool(origin=NAME, data=t))
    choice, parallel = _decode_tool_choice(data.get("tool_choice"))
    stops = optional(data, "stop_sequences", list)
    metadata = optional(data, "metadata", dict) or {}
    user = metadata.get("user_id") if isinstance(metadata.get("user_id"), str) else None
    reasoning = _decode_thinking(data)
    native: dict[str, Any] = {k: v for k, v in data.items() if k not in _MODELLED}
    other_meta = {k: v for k, v in metadata.items() if k != "user_id"}
    if other_meta:
        native["metadata"] = other_meta
    fmt = None
    output_config = optional(data, "output_config", dict) or {}
    raw_format = output_config.get("format") if isinstance(output_config, dict) else None
    raw_format = raw_format or data.get("output_format")
    if isinstance(raw_format, dict) and raw_format.get("type") == "json_schema":
        fmt = ir.ResponseFormat(
            type="json_schema",
            schema=raw_format.get("schema") if isinstance(raw_format.get("schema"), dict) else None,
        )
    rest_config = {k: v for k, v in output_config.items() if k not in ("format", "effort")}
    if rest_config:
        native["output_config"] = rest_config
    if isinstance(output_config.get("effort"), str):
        reasoning = ir.ReasoningConfig(
            enabled=reasoning.enabled if reasoning else None,
            budget_tokens=reasoning.budget_tokens if reasoning else None,
            adaptive=reasoning.adaptive if reasoning else False,
            effort=output_config["effort"],
        )
    temperature = optional(data, "temperature", (int, float))
    top_p = optional(data, "top_p", (int, float))
    return ir.Request(
        model=optional(data, "model", str) or call.model or "",
        messages=tuple(messages),
        tools=tuple(tools),
        native_tools=tuple(native_tools),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        params=ir.Params(
            max_tokens=optional(data, "max_tokens", int),
            temperature=None if temperature is None else float(temperature),
            top_p=None if top_p is None else float(top_p),
            top_k=optional(data, "top_k", int),
            stop=tuple(expect(s, str, "stop_sequences[]") for s in stops) if stops else None,
        ),
        reasoning=reasoning,
        response_format=fmt,
        stream=bool(optional(data, "stream", bool)),
        include_usage=True,
        user=user,
        native={NAME: native} if native else {},
    )


def _decode_thinking(data: dict[str, Any]) -> ir.ReasoningConfig | None:
    thinking = optional(data, "thinking", dict)
    if thinking is None:
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        return ir.ReasoningConfig(
            enabled=True,
            budget_tokens=optional(thinking, "budget_tokens", int, "thinking.budget_tokens"),
            include_thoughts=True,
        )
    if kind == "adaptive":
        return ir.ReasoningConfig(enabled=True, adaptive=True, include_thoughts=True)
    if kind == "disabled":
        return ir.ReasoningConfig(enabled=False)
    raise ClientRequestError(
        f"'thinking.type' must be enabled, adaptive or disabled, got {kind!r}",
        param="thinking.type",
    )


def _decode_tool_choice(value: Any) -> tuple[ir.ToolChoice | None, bool | None]:
    if value is None:
        return None, None
    choice = expect(value, dict, "tool_choice")
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    kind = choice.get("type")
    if kind == "auto":
        return ir.ToolChoice(mode="auto"), parallel
    if kind == "any":
        return ir.ToolChoice(mode="required"), parallel
    if kind == "none":
        return ir.ToolChoice(mode="none"), parallel
    if kind == "tool":
        return ir.ToolChoice(
            mode="tool", name=expect(choice.get("name"), str, "tool_choice.name")
        ), parallel
    raise ClientRequestError(
        f"'tool_choice.type' must be auto, any, tool or none, got {kind!r}",
        param="tool_choice.type",
    )


def _text_block(raw: Any, where: str) -> ir.Text:
    block = expect(raw, dict, where)
    if block.get("type", "text") != "text":
        raise ClientRequestError(f"'{where}' must be a text block", param=where)
    extra = {k: v for k, v in block.items() if k not in ("type", "text")}
    return ir.Text(
        text=expect(block.get("text"), str, f"{where}.text"), native={NAME: extra} if extra else {}
    )


def _decode_message(raw: Any, where: str, names: dict[str, str]) -> list[ir.Message]:
    msg = expect(raw, dict, where)
    role = msg.get("role")
    if role == "system":  # newer clients (Claude Code 2.1) put system turns inside messages
        content = msg.get("content")
        if isinstance(content, str):
            return [ir.Message(role="system", parts=(ir.Text(text=content),) if content else ())]
        blocks = expect(content, list, f"{where}.content")
        texts = tuple(_text_block(b, f"{where}.content[{i}]") for i, b in enumerate(blocks))
        return [ir.Message(role="system", parts=texts)]
    if role not in ("user", "assistant"):
        raise ClientRequestError(
            f"'{where}.role' must be user, assistant or system, got {role!r}", param=f"{where}.role"
        )
    content = msg.get("content")
    if isinstance(content, str):
        return [ir.Message(role=role, parts=(ir.Text(text=content),) if content else ())]
    blocks = expect(content, list, f"{where}.content")
    parts: list[ir.Part] = []
    results: list[ir.Part] = []
    for j, b in enumerate(blocks):
        b = expect(b, dict, f"{where}.content[{j}]")
        part = _decode_block(b, f"{where}.content[{j}]", names)
        (results if isinstance(part, ir.ToolResult) else parts).append(part)
    out = []
    if results:
        out.append(ir.Message(role="tool", parts=tuple(results)))
    if parts or not results:
        out.append(ir.Message(role=role, parts=tuple(parts)))
    return out


def _decode_block(b: dict[str, Any], where: str, names: dict[str, str]) -> ir.Part:
    kind = b.get("type")
    extra = {
        k: v
        for k, v in b.items()
        if k
        not in (
            "type",
            "text",
            "source",
            "id",
            "name",
            "input",
            "tool_use_id",
            "content",
            "is_error",
            "thinking",
            "signature",
            "data",
        )
    }
    nat = {NAME: extra} if extra else {}
    if kind == "text":
        return ir.Text(text=expect(b.get("text"), str, f"{where}.text"), native=nat)
    if kind in ("image", "document"):
        return _decode_source(b, where, nat)
    if kind == "tool_use":
        call_id = expect(b.get("id"), str, f"{where}.id")
        name = expect(b.get("name"), str, f"{where}.name")
        names[call_id] = name
        args = b.get("input", {})
        return ir.ToolCall(
            id=call_id, name=name, arguments=json.dumps(args, ensure_ascii=False), native=nat
        )
    if kind == "tool_result":
        call_id = expect(b.get("tool_use_id"), str, f"{where}.tool_use_id")
        content = b.get("content")
        inner: list[ir.Text | ir.File] = []
        if isinstance(content, str):
            inner.append(ir.Text(text=content))
        elif content is not None:
            for k, c in enumerate(expect(content, list, f"{where}.content")):
                c = expect(c, dict, f"{where}.content[{k}]")
                part = _decode_block(c, f"{where}.content[{k}]", names)
                if isinstance(part, (ir.Text, ir.File)):
                    inner.append(part)
        return ir.ToolResult(
            call_id=call_id,
            name=names.get(call_id),
            content=tuple(inner),
            is_error=bool(b.get("is_error")),
            native=nat,
        )
    if kind == "thinking":
        return ir.Reasoning(
            text=str(b.get("thinking") or ""),
            signature=b.get("signature") or None,
            origin=NAME,
            native=nat,
        )
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=str(b.get("data") or ""), origin=NAME, native=nat)
    return ir.Opaque(origin=NAME, data=b)


def _decode_source(b: dict[str, Any], where: str, nat: dict[str, Any]) -> ir.Part:
    source = expect(b.get("source"), dict, f"{where}.source")
    stype = source.get("type")
    default_kind: FileKind = "image" if b.get("type") == "image" else "document"
    if stype == "base64":
        media = normalise_media_type(optional(source, "media_type", str))
        return ir.File(
            kind=default_kind,
            media_type=media,
            data=normalise_base64(expect(source.get("data"), str, f"{where}.source.data")),  # type: ignore[arg-type]
            filename=b.get("title") if isinstance(b.get("title"), str) else None,
            native=nat,
        )
    if stype == "url":
        return ir.File(
            kind=default_kind, url=expect(source.get("url"), str, f"{where}.source.url"), native=nat
        )  # type: ignore[arg-type]
    if stype == "file":
        return ir.File(
            kind=default_kind,
            file_id=expect(source.get("file_id"), str, f"{where}.source.file_id"),
            native=nat,
        )  # type: ignore[arg-type]
    if stype == "text":
        return ir.Text(text=str(source.get("data") or ""), native={NAME: {"document": b}})
    return ir.Opaque(origin=NAME, data=b)


# ---- encode ----------------------------------------------------------------------------------


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    body: dict[str, Any] = {"model": target.model or request.model}
    system, turns = _encode_turns(request, report)
    p = request.params
    max_tokens = p.max_tokens
    if max_tokens is None:
        max_tokens = target.default_max_tokens
        report.invented("max_tokens", f"{max_tokens} (Anthropic requires it)")
    if target.max_output_tokens is not None and max_tokens > target.max_output_tokens:
        report.clamped("max_tokens", f"{max_tokens} → {target.max_output_tokens} (backend limit)")
        max_tokens = target.max_output_tokens
    thinking = _encode_thinking(request, max_tokens, report)
    if (
        thinking is not None
        and thinking.get("type") == "enabled"
        and thinking["budget_tokens"] >= max_tokens
    ):
        max_tokens = thinking["budget_tokens"] + 1024
        report.clamped("max_tokens", f"raised to {max_tokens}: above the thinking budget")
    body["max_tokens"] = max_tokens
    body["messages"] = turns
    if system:
        body["system"] = system
    if thinking is not None:
        body["thinking"] = thinking
    thinking_on = thinking is not None and thinking.get("type") in ("enabled", "adaptive")
    if p.temperature is not None:
        if thinking_on and p.temperature != 1:
            report.dropped("temperature", "Anthropic requires temperature 1 while thinking")
        else:
            t = p.temperature
            if t > 1:
                report.clamped("temperature", f"{t} → 1.0 (Anthropic's range is 0–1)")
                t = 1.0
            body["temperature"] = t
    if p.top_p is not None:
        if "temperature" in body:
            report.dropped(
                "top_p",
                "newer Claude models refuse temperature and top_p together; temperature kept",
            )
        elif not thinking_on:
            body["top_p"] = p.top_p
    if p.top_k is not None:
        if thinking_on:
            report.dropped("top_k", "Anthropic refuses top_k while thinking")
        else:
            body["top_k"] = p.top_k
    if p.stop:
        stops = [s for s in p.stop if s.strip()]
        if len(stops) != len(p.stop):
            report.dropped(
                "stop (whitespace-only)",
                "Anthropic refuses empty or whitespace-only stop sequences",
            )
        if stops:
            body["stop_sequences"] = stops
    if p.n is not None and p.n > 1:
        raise UnsupportedFeature("'n' > 1: Anthropic returns one answer per request", param="n")
    for name, value in (
        ("seed", p.seed),
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
        ("min_tokens", p.min_tokens),
    ):
        if value is not None:
            report.dropped(name, "Anthropic Messages has no such parameter")
    tools = [_encode_tool(t) for t in request.tools]
    for nt in request.native_tools:
        if nt.origin == NAME:
            tools.append(dict(nt.data))
        else:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name') or '?'}",
                f"a {nt.origin} server tool; Anthropic cannot run it",
            )
    if tools:
        body["tools"] = tools
    choice = _encode_tool_choice(request, thinking_on, report)
    if choice is not None:
        body["tool_choice"] = choice
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
    elif fmt is not None and fmt.type == "json_object":
        instruction = "Answer with a single JSON object and nothing else."
        system = body.get("system")
        if isinstance(system, list):
            body["system"] = [*system, {"type": "text", "text": instruction}]
        else:
            body["system"] = (
                f"{system}\n\n{instruction}" if isinstance(system, str) else instruction
            )
        report.moved(
            "response_format json_object",
            "Anthropic has no JSON mode: asked for in the system prompt",
        )
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    for key, value in (request.native.get(NAME) or {}).items():
        if key == "metadata" and isinstance(value, dict):
            body["metadata"] = {**value, **body.get("metadata", {})}
        elif key == "output_config" and isinstance(value, dict):
            body["output_config"] = {**value, **body.get("output_config", {})}
        else:
            body.setdefault(key, value)
    headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
    return UpstreamCall(
        path="/v1/messages", body=dumps(body), stream=request.stream, headers=headers
    )


def _encode_thinking(
    request: ir.Request, max_tokens: int, report: ir.Report
) -> dict[str, Any] | None:
    r = request.reasoning
    if r is None:
        return None
    if r.enabled is False:
        return {"type": "disabled"}
    if r.adaptive:
        return {"type": "adaptive"}
    budget = r.budget_tokens
    if budget is None and r.effort:
        budget = EFFORT_BUDGET.get(r.effort, 8192)
        report.moved("reasoning_effort", f"{r.effort} → thinking budget {budget} tokens")
    if budget is None:
        if not r.enabled:
            return None
        budget = 8192
    if budget < 1024:
        report.clamped("thinking.budget_tokens", f"{budget} → 1024 (Anthropic's minimum)")
        budget = 1024
    return {"type": "enabled", "budget_tokens": budget}


def _encode_tool(tool: ir.Tool) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    out: dict[str, Any] = {"name": tool.name, "input_schema": schema}
    if tool.description:
        out["description"] = tool.description
    for k, v in (tool.native.get(NAME) or {}).items():
        out.setdefault(k, v)
    return out


def _encode_tool_choice(
    request: ir.Request, thinking_on: bool, report: ir.Report
) -> dict[str, Any] | None:
    choice = request.tool_choice
    if not request.tools and not request.native_tools:
        return None
    if choice is None:
        if request.parallel_tool_calls is False:
            return {"type": "auto", "disable_parallel_tool_use": True}
        return None
    mode = choice.mode
    if thinking_on and mode in ("required", "tool"):
        report.moved(
            "tool_choice", f"{mode} → auto: Anthropic refuses forced tool use while thinking"
        )
        mode = "auto"
    out: dict[str, Any]
    if mode == "tool":
        out = {"type": "tool", "name": choice.name}
    else:
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[mode]}
    if request.parallel_tool_calls is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _encode_turns(
    request: ir.Request, report: ir.Report
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    system_blocks: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    leading = True
    for msg in request.messages:
        if msg.role in ("system", "developer"):
            text_blocks = [
                _encode_text(p) for p in msg.parts if isinstance(p, ir.Text) and p.text.strip()
            ]
            if leading:
                system_blocks += text_blocks
            else:
                text = "\n".join(b["text"] for b in text_blocks)
                if text:
                    _append(
                        turns,
                        "user",
                        [
                            {
                                "type": "text",
                                "text": f"<system-reminder>\n{text}\n</system-reminder>",
                            }
                        ],
                    )
                    report.moved(
                        "system message",
                        "a later system message was sent as user text (one system slot)",
                    )
            continue
        leading = False
        if msg.role == "tool":
            blocks = [_encode_result(p, report) for p in msg.parts if isinstance(p, ir.ToolResult)]
            _append(turns, "user", blocks, results=True)
            continue
        blocks = []
        for part in msg.parts:
            block = _encode_part(part, msg.role, report)
            if block is not None:
                blocks.append(block)
        if msg.role == "assistant" and blocks:
            # A thinking block must lead the assistant turn that carries it.
            blocks.sort(key=lambda b: 0 if b["type"] in ("thinking", "redacted_thinking") else 1)
        if blocks:
            _append(turns, "user" if msg.role == "user" else "assistant", blocks)
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
        report.invented(
            "first user message", "Anthropic requires the conversation to start with a user turn"
        )
    system: str | list[dict[str, Any]] | None = None
    if system_blocks:
        if any(len(b) > 2 for b in system_blocks):
            system = system_blocks
        else:
            system = "\n\n".join(b["text"] for b in system_blocks)
    return system, turns


def _append(
    turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], results: bool = False
) -> None:
    """Merge consecutive same-role turns (edge 47); tool results go first in a user turn (edge 36)."""
    if turns and turns[-1]["role"] == role:
        existing = turns[-1]["content"]
        if results:
            firsts = [b for b in existing if b["type"] == "tool_result"]
            rest = [b for b in existing if b["type"] != "tool_result"]
            turns[-1]["content"] = firsts + blocks + rest
        else:
            existing.extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _encode_text(part: ir.Text) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    nat = part.native.get(NAME)
    if nat:
        if "document" in nat:
            return dict(nat["document"])
        block.update({k: v for k, v in nat.items() if k != "document"})
    return block


def _encode_part(part: ir.Part, role: str, report: ir.Report) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        if not part.text.strip():
            return None  # Anthropic refuses empty and whitespace-only text blocks (edge 49)
        return _encode_text(part)
    if isinstance(part, ir.File):
        return _encode_file(part, report)
    if isinstance(part, ir.ToolCall):
        try:
            args = json.loads(part.arguments) if part.arguments.strip() else {}
        except ValueError:
            args = {"_raw_arguments": part.arguments}
            report.moved(
                "tool arguments", "arguments that were not valid JSON are kept under _raw_arguments"
            )
        if not isinstance(args, dict):
            args = {"value": args}
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": ids.safe_id(part.id),
            "name": part.name,
            "input": args,
        }
        block.update({k: v for k, v in (part.native.get(NAME) or {}).items() if k not in block})
        return block
    if isinstance(part, ir.Reasoning):
        if part.origin == NAME:
            if part.redacted is not None:
                return {"type": "redacted_thinking", "data": part.redacted}
            if part.signature:
                return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        if part.text or part.signature or part.redacted:
            report.dropped(
                "reasoning",
                f"{part.origin or 'unsigned'} reasoning cannot be sent back to Anthropic",
            )
        return None
    if isinstance(part, ir.Opaque):
        if part.origin == NAME:
            return dict(part.data)
        report.dropped(
            str(part.data.get("type", "block")), f"a {part.origin} block Anthropic cannot carry"
        )
        return None
    return None


def _encode_file(part: ir.File, report: ir.Report) -> dict[str, Any]:
    extra = dict(part.native.get(NAME) or {})
    if part.kind == "audio":
        raise UnsupportedFeature(
            "audio input: Anthropic Messages cannot take audio", param="content"
        )
    kind = "image" if part.kind == "image" else "document"
    if part.data is not None:
        media = part.media_type
        sniffed = sniff_media_type(part.data)
        if sniffed and sniffed != media:
            if media is not None:
                report.renamed("media_type", f"{media} → {sniffed} (the bytes say so)")
            media = sniffed
        if kind == "image" and media not in IMAGE_TYPES:
            raise UnsupportedFeature(
                f"image type {media}: Anthropic accepts jpeg, png, gif and webp", param="content"
            )
        if kind == "document" and media and media.startswith("text/"):
            import base64

            text = base64.b64decode(part.data).decode("utf-8", "replace")
            return {
                **extra,
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": text},
            }
        source: dict[str, Any] = {
            "type": "base64",
            "media_type": media or "application/pdf",
            "data": part.data,
        }
    elif part.url is not None:
        parsed = parse_data_url(part.url)
        if parsed:
            return _encode_file(
                ir.File(kind=part.kind, media_type=parsed[0], data=parsed[1]), report
            )
        source = {"type": "url", "url": part.url}
    elif part.file_id is not None:
        source = {"type": "file", "file_id": part.file_id}
    else:
        raise UnsupportedFeature("a file without data, URL or id", param="content")
    block = {**extra, "type": kind, "source": source}
    if kind == "document" and part.filename and "title" not in block:
        block["title"] = part.filename
    _ = file_kind
    return block


def _encode_result(part: ir.ToolResult, report: ir.Report) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": ids.safe_id(part.call_id)}
    content: list[dict[str, Any]] = []
    for c in part.content:
        if isinstance(c, ir.Text):
            if c.text:
                content.append(_encode_text(c))
        else:
            content.append(_encode_file(c, report))
    if content:
        if len(content) == 1 and content[0]["type"] == "text" and len(content[0]) == 2:
            block["content"] = content[0]["text"]
        else:
            block["content"] = content
    if part.is_error:
        block["is_error"] = True
    block.update({k: v for k, v in (part.native.get(NAME) or {}).items() if k not in block})
    return block
