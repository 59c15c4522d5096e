"""Whole chat completions ⇄ IR.

Object: https://platform.openai.com/docs/api-reference/chat/object
Decoding takes the first choice and whatever compatible servers put beside ``content``:
``reasoning_content`` (DeepSeek, vLLM), ``reasoning`` (OpenRouter, Ollama), Mistral thinking
chunks, ``refusal``, ``annotations``, OpenRouter ``images``. Fields it does not model stay in
``Response.native`` so an OpenAI client behind an OpenAI-compatible backend sees them again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import (
    as_dict,
    as_list,
    dumps,
    loads_upstream,
    parse_data_url,
    unix_time,
)
from crosswire.protocols.openai_chat import reasoning
from crosswire.protocols.openai_chat.mapping import NAME
from crosswire.protocols.openai_chat.request_decode import arguments_text
from crosswire.protocols.openai_chat.usage import finish_in, finish_out, usage_in, usage_out

#: Top-level keys the decoder models; the rest go to ``Response.native``.
_TOP_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage"})
#: Message keys the decoder models; the rest go to ``Response.native[…]["message"]``.
_MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "refusal",
        "tool_calls",
        "function_call",
        "reasoning_content",
        "reasoning",
        "thinking_blocks",
        "annotations",
        "images",
    }
)


# ---- decode (the upstream's answer) ------------------------------------------------------------


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("chat completion is not a JSON object")
    if data.get("error") is not None and not data.get("choices"):
        raise UpstreamProtocolError(f"upstream answered an error with status 200: {data['error']}")
    rid = str(data.get("id") or "")
    choices = [c for c in as_list(data.get("choices")) if isinstance(c, dict)]
    choice = next((c for c in choices if c.get("index", 0) == 0), choices[0] if choices else {})
    if len(choices) > 1:
        report.dropped("choices[1:]", "only the first choice is converted")
    msg = as_dict(choice.get("message"))
    parts = message_parts(msg, rid)
    has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
    if choices:
        finish = finish_in(choice.get("finish_reason"), has_calls, choice)
    else:  # nothing generated: never a clean stop (edge 73 in docs/edge-cases.md)
        finish = ir.Finish(reason="error", raw=None)
    native: dict[str, Any] = {k: v for k, v in data.items() if k not in _TOP_KEYS}
    message_extra = {k: v for k, v in msg.items() if k not in _MESSAGE_KEYS}
    if message_extra:
        native["message"] = message_extra
    return ir.Response(
        id=rid,
        model=str(data.get("model") or ""),
        parts=tuple(parts),
        finish=finish,
        usage=usage_in(data.get("usage")),
        created=unix_time(data.get("created")),
        native={NAME: native} if native else {},
    )


def message_parts(msg: dict[str, Any], seed: str) -> list[ir.Part]:
    parts: list[ir.Part] = reasoning.decode_carrier(msg.get("thinking_blocks"))
    if not parts:
        text = reasoning.plain_text(msg)
        if text:
            parts.append(ir.Reasoning(text=text, origin=NAME))
    annotations = msg.get("annotations")
    text_native = {NAME: {"annotations": annotations}} if annotations else {}
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            parts.append(ir.Text(text=content, native=text_native))
    elif isinstance(content, list):  # Mistral: thinking and text chunks
        for chunk in content:
            if not isinstance(chunk, dict):
                continue
            if chunk.get("type") == "thinking":
                parts.append(ir.Reasoning(text=reasoning.thinking_chunk_text(chunk), origin=NAME))
            elif chunk.get("type") == "text" and isinstance(chunk.get("text"), str):
                parts.append(ir.Text(text=chunk["text"]))
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(ir.Text(text=refusal, native={NAME: {"refusal": True}}))
    for image in as_list(msg.get("images")):  # OpenRouter image output
        url = as_dict(as_dict(image).get("image_url")).get("url")
        if isinstance(url, str):
            parsed = parse_data_url(url)
            if parsed is None:
                parts.append(ir.File(kind="image", url=url))
            else:
                parts.append(ir.File(kind="image", media_type=parsed[0], data=parsed[1]))
    for position, raw in enumerate(as_list(msg.get("tool_calls"))):
        if isinstance(raw, dict):
            parts.append(_tool_call(raw, seed, position))
    legacy = msg.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        parts.append(
            ir.ToolCall(
                id=ids.derived_call_id(seed, 0),
                name=legacy["name"],
                arguments=arguments_text(legacy.get("arguments")),
            )
        )
    return parts


def _tool_call(raw: dict[str, Any], seed: str, position: int) -> ir.ToolCall:
    call_id = raw.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = ids.derived_call_id(seed, position)
    if raw.get("type") == "custom":
        custom = as_dict(raw.get("custom"))
        return ir.ToolCall(
            id=call_id,
            name=str(custom.get("name") or ""),
            arguments=str(custom.get("input") or ""),
            native={NAME: {"type": "custom"}},
        )
    fn = as_dict(raw.get("function"))
    native = {k: v for k, v in raw.items() if k not in ("id", "type", "function", "index")}
    return ir.ToolCall(
        id=call_id,
        name=str(fn.get("name") or ""),
        arguments=arguments_text(fn.get("arguments")),
        native={NAME: native} if native else {},
    )


# ---- encode (the app's answer) -----------------------------------------------------------------


def completion_id(response_id: str) -> str:
    return (
        response_id
        if response_id.startswith("chatcmpl")
        else f"chatcmpl-{response_id or 'crosswire'}"
    )


def encode(
    call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
) -> bytes:
    """A whole answer in OpenAI's shape (an app on Mistral's SDK: ``mistral_out``)."""
    own = response.native.get(NAME) or {}
    message = encode_message(response.parts, report)
    for key, value in (own.get("message") or {}).items():
        message.setdefault(key, value)
    has_calls = "tool_calls" in message
    body: dict[str, Any] = {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model or request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_out(response.finish, has_calls),
            }
        ],
        "usage": usage_out(response.usage),
    }
    for key, value in own.items():
        if key != "message":
            body.setdefault(key, value)
    return safe_dumps(body)


def safe_dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8; lone surrogates (an upstream's ``"\\ud800"``) become U+FFFD,
    since UTF-8 cannot hold them and the SDKs' strict parsers reject them escaped."""
    try:
        return dumps(value)
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def encode_message(parts: tuple[ir.Part, ...], report: ir.Report) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    annotations: list[Any] = []
    thoughts: list[ir.Reasoning] = []
    calls: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case ir.Text():
                native = part.native.get(NAME) or {}
                (refusals if native.get("refusal") else texts).append(part.text)
                annotations += as_list(native.get("annotations"))
            case ir.Reasoning():
                thoughts.append(part)
            case ir.ToolCall():
                calls.append(tool_call_out(part))
            case ir.File() if part.kind == "image" and (part.url or part.data):
                images.append(image_out(part))
                report.moved("image", "generated images go in message.images (OpenRouter's field)")
            case _:
                label = part.data.get("type", "block") if isinstance(part, ir.Opaque) else part.type
                report.dropped(str(label), "a Chat Completions answer has no place for it")
    text = "".join(texts)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not calls else None,  # edge 49
        "refusal": "".join(refusals) or None,
    }
    joined = "".join(t.text for t in thoughts)
    if joined:
        message["reasoning_content"] = joined
    carrier = reasoning.encode_carrier(thoughts)
    if carrier:
        message["thinking_blocks"] = carrier
    if annotations:
        message["annotations"] = annotations
    if images:
        message["images"] = images
    if calls:
        message["tool_calls"] = calls
    return message


def tool_call_out(call: ir.ToolCall) -> dict[str, Any]:
    native = dict(call.native.get(NAME) or {})
    if native.pop("type", None) == "custom":
        return {
            "id": call.id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    return {
        **native,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments or "{}"},
    }


def image_out(part: ir.File) -> dict[str, Any]:
    url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
    return {"type": "image_url", "image_url": {"url": url}}
