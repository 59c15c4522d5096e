"""Whole Ollama answers ⇄ IR: ``ChatResponse`` (``message``) and ``GenerateResponse``
(``response``), both ending with ``done: true``, ``done_reason`` and the token counts.

Decoding keeps what the IR does not model (``logprobs``, generate's ``context``, the
nanosecond durations, the exact ``created_at``) in ``Response.native["ollama"]``; the encoder
gives an Ollama app back those of them its SDK's answer type declares — an answer must
validate as ``ollama.ChatResponse`` / ``GenerateResponse``, so tool calls carry no ``id``
there. Image-generation answers (``image``) decode to an image ``File`` part.
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature, UpstreamProtocolError
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps, loads_upstream, normalise_base64, sniff_media_type
from crosswire.protocols.ollama.mapping import (
    ANSWER_MODELLED,
    CHAT_ANSWER_EXTRA,
    GENERATE_ANSWER_EXTRA,
    NAME,
    created_in,
    created_out,
    done_fields,
    finish_in,
    usage_in,
)
from crosswire.protocols.ollama.request_decode import tool_call_in
from crosswire.protocols.ollama.request_encode import image_out, tool_call_out

# ---- decode (the upstream's answer) ---------------------------------------------------------


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Ollama answer is not a JSON object")
    if isinstance(data.get("error"), str) and "message" not in data and "response" not in data:
        raise UpstreamProtocolError(f"upstream answered an error with status 200: {data['error']}")
    created_at = data.get("created_at")
    parts = answer_parts(data, str(created_at or ""))
    native = {k: v for k, v in data.items() if k not in ANSWER_MODELLED}
    if isinstance(created_at, str):
        native["created_at"] = created_at
    return ir.Response(
        id=f"ollama-{created_at or ''}",
        model=str(data.get("model") or ""),
        parts=tuple(parts),
        finish=finish_in(data.get("done_reason"), any(isinstance(p, ir.ToolCall) for p in parts)),
        usage=usage_in(data),
        created=created_in(created_at),
        native={NAME: native},
    )


def answer_parts(obj: dict[str, Any], seed: str, start: int = 0) -> list[ir.Part]:
    """The parts of one answer object (a whole answer or one stream line): thinking, text,
    images, tool calls — in that order, as Ollama produces them."""
    msg = obj.get("message") if isinstance(obj.get("message"), dict) else None
    source: dict[str, Any] = msg if msg is not None else obj
    parts: list[ir.Part] = []
    thinking = source.get("thinking")
    if isinstance(thinking, str) and thinking:
        parts.append(ir.Reasoning(text=thinking, origin=NAME))
    text = source.get("content") if msg is not None else obj.get("response")
    if isinstance(text, str) and text:
        parts.append(ir.Text(text=text))
    images = source.get("images") if msg is not None else [obj.get("image")]
    for image in images if isinstance(images, list) else []:
        if isinstance(image, str) and image:
            data = normalise_base64(image)
            parts.append(ir.File(kind="image", data=data, media_type=sniff_media_type(data)))
    calls = source.get("tool_calls") if msg is not None else None
    for j, tc in enumerate(calls if isinstance(calls, list) else []):
        if isinstance(tc, dict):
            parts.append(tool_call_in(tc, seed, start + j))
    return parts


# ---- encode (the app's answer) --------------------------------------------------------------


def encode(
    call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
) -> bytes:
    generate = call.variant == "generate"
    own = dict(response.native.get(NAME) or {})
    created_at = own.get("created_at")
    out: dict[str, Any] = {
        "model": response.model,
        "created_at": created_at if isinstance(created_at, str) else created_out(response.created),
    }
    out.update(content(response.parts, generate, report))
    out.update(done_fields(response.finish, response.usage))
    if own and response.finish.raw:
        out["done_reason"] = response.finish.raw  # an Ollama upstream's own reason
    allowed = GENERATE_ANSWER_EXTRA if generate else CHAT_ANSWER_EXTRA
    out.update({k: v for k, v in own.items() if k in allowed})
    return dumps(out)


def content(
    parts: tuple[ir.Part, ...] | list[ir.Part], generate: bool, report: ir.Report
) -> dict[str, Any]:
    """The content fields of an answer object: generate's ``response``/``thinking``/``image``
    or chat's ``message``."""
    text = "".join(p.text for p in parts if isinstance(p, ir.Text))
    thinking = "".join(p.text for p in parts if isinstance(p, ir.Reasoning))
    images = [i for i in (_image(p, report) for p in parts if isinstance(p, ir.File)) if i]
    calls = [p for p in parts if isinstance(p, ir.ToolCall)]
    for p in parts:
        if isinstance(p, ir.Opaque):
            report.dropped(f"{p.origin} block {p.data.get('type', '')}".strip(), "no Ollama form")
    if generate:
        out: dict[str, Any] = {"response": text}
        if thinking:
            out["thinking"] = thinking
        if images:
            out["image"] = images[0]
            if len(images) > 1:
                report.dropped("images[1:]", "a generate answer carries one image")
        if calls:
            report.dropped("tool calls", "/api/generate answers carry no tool calls")
        return out
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        message["thinking"] = thinking
    if images:  # the ollama package parses answer images as its Image model: a string fails
        report.dropped("images", "an Ollama chat answer carries no images")
    if calls:
        message["tool_calls"] = [tool_call_out(c, passthrough=False) for c in calls]
    return {"message": message}


def _image(part: ir.File, report: ir.Report) -> str | None:
    try:
        return image_out(part)
    except UnsupportedFeature as exc:
        report.dropped("image", str(exc))
        return None
