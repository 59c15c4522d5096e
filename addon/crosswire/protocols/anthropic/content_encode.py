"""IR parts → Anthropic content blocks for an upstream request.

Rules (numbers are edges of docs/edge-cases.md): empty or whitespace-only text is never sent (49); tool ids go through
``ids.safe_id`` identically in ``tool_use`` and ``tool_result`` (27); images are jpeg/png/gif/webp
only, with ``image/jpg`` renamed and the declared type checked against the bytes (52); URL images
and PDFs become ``url`` sources (53, 54); audio cannot be sent (55); tool results keep their
images and documents as blocks (41) and ``is_error`` (40); signed thinking and
``redacted_thinking`` of Anthropic origin are sent back byte for byte (61–63) and never carry
``cache_control`` (64); reasoning of any other origin is dropped with a note, since Anthropic
refuses unsigned thinking; opaque blocks go back only to Anthropic.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.anthropic.content_decode import ORIGINAL_BLOCK
from crosswire.protocols.anthropic.mapping import IMAGE_TYPES, NAME, PDF
from crosswire.protocols.common import parse_data_url, sniff_media_type


def _extra(native: ir.Native) -> dict[str, Any]:
    return dict(native.get(NAME) or {})


def text(part: ir.Text) -> dict[str, Any] | None:
    """A text block, or the original block it stands for; None when it is blank (edge 49)."""
    extra = _extra(part.native)
    original = extra.pop(ORIGINAL_BLOCK, None)
    if isinstance(original, dict):
        return dict(original)
    if not part.text.strip():
        return None
    return {**extra, "type": "text", "text": part.text}


def tool_use(part: ir.ToolCall, report: ir.Report) -> dict[str, Any]:
    return {
        **_extra(part.native),
        "type": "tool_use",
        "id": ids.safe_id(part.id),
        "name": part.name,
        "input": tool_input(part.arguments, report),
    }


def tool_input(arguments: str, report: ir.Report) -> dict[str, Any]:
    """``input`` must be an object: ``""`` is ``{}`` (edge 22); text that is not a JSON object
    is kept under a key rather than lost."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        report.moved("tool_use.input", "arguments that are not valid JSON sent as _raw_arguments")
        return {"_raw_arguments": arguments}
    if isinstance(value, dict):
        return value
    report.moved("tool_use.input", "arguments that are not a JSON object sent under 'value'")
    return {"value": value}


def reasoning(part: ir.Reasoning, report: ir.Report) -> dict[str, Any] | None:
    if part.origin == NAME:
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        if part.signature:
            # Text may be empty (display "omitted"): still valid with its signature (edge 62).
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        if part.text:
            report.dropped("thinking", "an unsigned thinking block: Anthropic refuses it")
        return None
    if part.text or part.signature or part.redacted:
        report.dropped(
            "reasoning",
            f"{part.origin or 'unsigned'} reasoning cannot be replayed to Anthropic "
            "(it accepts only its own signed thinking)",
        )
    return None


def opaque(part: ir.Opaque, report: ir.Report) -> dict[str, Any] | None:
    if part.origin == NAME:
        return dict(part.data)
    report.dropped(
        f"{part.origin} {part.data.get('type', 'block')}", "a block Anthropic cannot carry"
    )
    return None


def file(part: ir.File, report: ir.Report) -> dict[str, Any]:
    """An ``image`` or ``document`` block from base64 data, a (data) URL or a file id."""
    if part.kind == "audio" or (part.media_type or "").startswith("audio/"):
        raise UnsupportedFeature(
            f"audio input ({part.media_type or 'audio'}): Anthropic Messages cannot take audio",
            param="messages.content",
        )
    extra = _extra(part.native)
    if part.data is None and part.url is not None:
        parsed = parse_data_url(part.url)
        if parsed is not None:
            media_type, data = parsed
            inline = ir.File(
                kind=part.kind,
                media_type=media_type or part.media_type,
                data=data,
                filename=part.filename,
                native=part.native,
            )
            return file(inline, report)
    if part.data is not None:
        return _inline(part, extra, report)
    kind = _block_kind(part, part.media_type)
    if part.url is not None:
        source: dict[str, Any] = {"type": "url", "url": part.url}
    elif part.file_id is not None:
        source = {"type": "file", "file_id": part.file_id}
    else:
        raise UnsupportedFeature("a file without data, URL or id", param="messages.content")
    return _with_title({**extra, "type": kind, "source": source}, part)


def _block_kind(part: ir.File, media_type: str | None) -> str:
    if part.kind == "image" or (media_type or "").startswith("image/"):
        return "image"
    return "document"


def _inline(part: ir.File, extra: dict[str, Any], report: ir.Report) -> dict[str, Any]:
    data = part.data or ""
    declared = part.media_type
    sniffed = sniff_media_type(data)
    media_type = declared
    if sniffed is not None and sniffed != declared:
        # Anthropic checks the bytes against the declared type (edge 52).
        if declared is not None:
            report.renamed("media_type", f"{declared} → {sniffed} (what the bytes are)")
        media_type = sniffed
    kind = _block_kind(part, media_type)
    if kind == "image":
        if media_type not in IMAGE_TYPES:
            raise UnsupportedFeature(
                f"image type {media_type or 'unknown'}: Anthropic accepts only JPEG, PNG, GIF "
                "and WebP",
                param="messages.content",
            )
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {**extra, "type": "image", "source": source}
    if media_type == PDF or (media_type is None and part.kind == "document"):
        source = {"type": "base64", "media_type": PDF, "data": data}
        return _with_title({**extra, "type": "document", "source": source}, part)
    if media_type is not None and (
        media_type.startswith("text/")
        or media_type.endswith("+json")
        or media_type in ("application/json", "application/xml")
    ):
        try:
            decoded = base64.b64decode(data, validate=False).decode("utf-8")
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None:
            if media_type != "text/plain":
                report.renamed("media_type", f"{media_type} → text/plain (a text document)")
            source = {"type": "text", "media_type": "text/plain", "data": decoded}
            return _with_title({**extra, "type": "document", "source": source}, part)
    raise UnsupportedFeature(
        f"a {media_type or 'binary'} file: Anthropic accepts images, PDFs and plain-text documents",
        param="messages.content",
    )


def _with_title(block: dict[str, Any], part: ir.File) -> dict[str, Any]:
    if block["type"] == "document" and part.filename and "title" not in block:
        block["title"] = part.filename
    return block


def tool_result(part: ir.ToolResult, report: ir.Report) -> dict[str, Any]:
    """Text and files stay blocks (edge 41); a lone plain text becomes the string form."""
    block: dict[str, Any] = {
        **_extra(part.native),
        "type": "tool_result",
        "tool_use_id": ids.safe_id(part.call_id),
    }
    content: list[dict[str, Any]] = []
    for inner in part.content:
        encoded = text(inner) if isinstance(inner, ir.Text) else file(inner, report)
        if encoded is not None:
            content.append(encoded)
    if len(content) == 1 and content[0].keys() == {"type", "text"}:
        block["content"] = content[0]["text"]
    elif content:
        block["content"] = content
    if part.is_error:
        block["is_error"] = True
    return block


def block_for(p: ir.Part, report: ir.Report) -> dict[str, Any] | None:
    """Any part of a user or assistant turn; None when it has nothing to send."""
    match p:
        case ir.Text():
            return text(p)
        case ir.File():
            return file(p, report)
        case ir.ToolCall():
            return tool_use(p, report)
        case ir.Reasoning():
            return reasoning(p, report)
        case ir.Opaque():
            return opaque(p, report)
        case ir.ToolResult():
            return tool_result(p, report)
    return None
