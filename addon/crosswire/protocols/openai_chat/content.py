"""Message content parts ⇄ IR parts: text, images, audio, files, refusals, Mistral chunks.

Content part types: https://platform.openai.com/docs/api-reference/chat/create#chat-create-messages
Mistral chunks (``document_url``, ``input_audio`` as a string, ``thinking``):
https://docs.mistral.ai/api/#tag/chat

Decoding is strict about the shapes it models (a wrong type is a 400 naming the field) and
keeps everything else: unknown part types become ``Opaque`` parts that only this protocol
re-emits, unknown keys of known parts go to the part's ``native``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.common import (
    data_url,
    expect,
    file_kind,
    normalise_base64,
    normalise_media_type,
    optional,
    parse_data_url,
    sniff_media_type,
)
from crosswire.protocols.openai_chat import reasoning
from crosswire.protocols.openai_chat.dialects import Dialect
from crosswire.protocols.openai_chat.mapping import NAME

#: File-name extensions → media types, for ``file_data`` sent as bare base64.
EXTENSION_MEDIA: dict[str, str] = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "html": "text/html",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
}

#: ``input_audio.format`` ⇄ media type (OpenAI accepts wav and mp3).
AUDIO_FORMAT_MEDIA: dict[str, str] = {"wav": "audio/wav", "mp3": "audio/mpeg"}
MEDIA_AUDIO_FORMAT: dict[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}


# ---- decode (the app's content) ---------------------------------------------------------------


def decode(content: Any, where: str) -> tuple[ir.Part, ...]:
    """A message's ``content``: null, a string, or an array of typed parts."""
    if content is None:
        return ()
    if isinstance(content, str):
        return (ir.Text(text=content),) if content else ()
    items = expect(content, list, where)
    return tuple(_decode_item(item, f"{where}[{i}]") for i, item in enumerate(items))


def _decode_item(raw: Any, where: str) -> ir.Part:
    item = expect(raw, dict, where)
    kind = item.get("type")
    if kind == "text":
        text = expect(item.get("text"), str, f"{where}.text")
        return ir.Text(text=text, native=_extra(item, ("type", "text")))
    if kind == "image_url":
        return _decode_image(item, where)
    if kind == "input_audio":
        return _decode_audio(item, where)
    if kind == "file":
        return _decode_file(item, where)
    if kind == "refusal":
        text = expect(item.get("refusal"), str, f"{where}.refusal")
        return ir.Text(text=text, native={NAME: {"refusal": True}})
    if kind == "thinking":  # Mistral reasoning replayed in history
        return ir.Reasoning(text=reasoning.thinking_chunk_text(item), origin=NAME)
    if kind == "document_url":  # Mistral
        url = expect(item.get("document_url"), str, f"{where}.document_url")
        return _file_from_url(url, "document", optional(item, "document_name", str))
    return ir.Opaque(origin=NAME, data=item)


def _decode_image(item: dict[str, Any], where: str) -> ir.File:
    image = item.get("image_url")
    detail = None
    if isinstance(image, dict):
        url = expect(image.get("url"), str, f"{where}.image_url.url")
        detail = optional(image, "detail", str, f"{where}.image_url.detail")
    else:  # Mistral also accepts the URL as a plain string
        url = expect(image, str, f"{where}.image_url.url")
    native = dict(_extra(item, ("type", "image_url")).get(NAME, {}))
    if detail is not None:
        native["detail"] = detail
    part = _file_from_url(url, "image", None)
    return ir.File(
        kind="image",
        media_type=part.media_type,
        data=part.data,
        url=part.url,
        native={NAME: native} if native else {},
    )


def _file_from_url(url: str, kind: ir.parts.FileKind, filename: str | None) -> ir.File:
    parsed = parse_data_url(url)
    if parsed is None:
        return ir.File(kind=kind, url=url, filename=filename)
    media_type, data = parsed
    if kind == "image" and media_type in (None, "application/octet-stream"):
        media_type = sniff_media_type(data) or media_type
    return ir.File(kind=kind, media_type=media_type, data=data, filename=filename)


def _decode_audio(item: dict[str, Any], where: str) -> ir.File:
    audio = item.get("input_audio")
    if isinstance(audio, str):  # Mistral: the base64 itself
        data, fmt = audio, None
    else:
        audio = expect(audio, dict, f"{where}.input_audio")
        data = expect(audio.get("data"), str, f"{where}.input_audio.data")
        fmt = optional(audio, "format", str, f"{where}.input_audio.format")
    parsed = parse_data_url(data)
    if parsed is not None:
        media, data = parsed
    else:
        media, data = None, normalise_base64(data)
    if fmt is not None:
        media = AUDIO_FORMAT_MEDIA.get(fmt.lower(), f"audio/{fmt.lower()}")
    return ir.File(kind="audio", media_type=media or "audio/wav", data=data)


def _decode_file(item: dict[str, Any], where: str) -> ir.File:
    file = expect(item.get("file"), dict, f"{where}.file")
    file_data = optional(file, "file_data", str, f"{where}.file.file_data")
    file_id = optional(file, "file_id", str, f"{where}.file.file_id")
    filename = optional(file, "filename", str, f"{where}.file.filename")
    media: str | None = None
    data: str | None = None
    if file_data:
        parsed = parse_data_url(file_data)
        if parsed is not None:
            media, data = parsed
        else:  # bare base64, as some SDKs send it
            data = normalise_base64(file_data)
        if media in (None, "application/octet-stream"):
            media = sniff_media_type(data) or _media_from_name(filename) or "application/pdf"
    elif filename:
        media = _media_from_name(filename)
    if data is None and file_id is None:
        raise ir.ClientRequestError(
            f"'{where}.file' needs file_data or file_id", param=f"{where}.file"
        )
    kind = file_kind(media) if media else "document"
    return ir.File(
        kind=kind,
        media_type=media,
        data=data,
        file_id=file_id,
        filename=filename,
        native=_extra(file, ("file_data", "file_id", "filename")),
    )


def _media_from_name(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    return EXTENSION_MEDIA.get(filename.rsplit(".", 1)[1].lower())


def _extra(item: dict[str, Any], known: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    rest = {k: v for k, v in item.items() if k not in known}
    return {NAME: rest} if rest else {}


# ---- encode (the upstream's content) ----------------------------------------------------------


def encode(
    parts: tuple[ir.Part, ...] | list[ir.Part], dialect: Dialect, report: ir.Report
) -> str | list[dict[str, Any]]:
    """User content: a plain string when it is one unannotated text, else an array."""
    if all(isinstance(p, ir.Text) and not p.native.get(NAME) for p in parts):
        texts = [p.text for p in parts if isinstance(p, ir.Text)]
        if len(texts) <= 1:
            return texts[0] if texts else ""
    out: list[dict[str, Any]] = []
    for part in parts:
        item = encode_part(part, dialect, report)
        if item is not None:
            out.append(item)
    return out


def encode_part(part: ir.Part, dialect: Dialect, report: ir.Report) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        native = part.native.get(NAME) or {}
        if native.get("refusal"):
            return {"type": "text", "text": part.text}
        return {**native, "type": "text", "text": part.text}
    if isinstance(part, ir.File):
        return _encode_file(part, dialect, report)
    if isinstance(part, ir.Opaque):
        if part.origin == NAME:
            return dict(part.data)
        report.dropped(
            str(part.data.get("type") or "block"), f"a {part.origin} block Chat Completions lacks"
        )
        return None
    if isinstance(part, ir.Reasoning):
        report.dropped("reasoning", "reasoning in a user turn has no place in Chat Completions")
        return None
    report.dropped(part.type, "not valid in this message role")
    return None


def _encode_file(part: ir.File, dialect: Dialect, report: ir.Report) -> dict[str, Any] | None:
    native = dict(part.native.get(NAME) or {})
    if part.kind == "image" or (part.media_type or "").startswith("image/"):
        if part.url is None and part.data is None:
            raise UnsupportedFeature(
                "an image given by file id cannot be sent to Chat Completions "
                "(image_url needs a URL or base64 data)",
                param="content",
            )
        url = part.url or data_url(part.media_type, part.data or "")
        image: dict[str, Any] = {"url": url}
        detail = native.pop("detail", None)
        if detail is not None:
            image["detail"] = detail
        return {**native, "type": "image_url", "image_url": image}
    if part.kind == "audio":
        if part.data is None:
            raise UnsupportedFeature(
                "audio given by URL or file id cannot be sent to Chat Completions "
                "(input_audio needs the base64 data)",
                param="content",
            )
        if dialect.name == "mistral":
            return {"type": "input_audio", "input_audio": part.data}
        media = normalise_media_type(part.media_type) or "audio/wav"
        fmt = MEDIA_AUDIO_FORMAT.get(media, media.split("/")[-1])
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": fmt}}
    text = _inline_text(part)
    if text is not None:
        report.moved(
            "document", f"a {part.media_type} document was inlined as text (Chat takes PDFs)"
        )
        return {"type": "text", "text": text}
    if dialect.name == "mistral":
        if part.file_id:
            return {"type": "file", "file_id": part.file_id}
        url = part.url or data_url(part.media_type or "application/pdf", part.data or "")
        item = {"type": "document_url", "document_url": url}
        if part.filename:
            item["document_name"] = part.filename
        return item
    file: dict[str, Any] = {}
    if part.data is not None:
        file["file_data"] = data_url(part.media_type or "application/pdf", part.data)
    if part.file_id:
        file["file_id"] = part.file_id
    if not file:
        raise UnsupportedFeature(
            f"a document given by URL ({part.url}) cannot be sent to Chat Completions; "
            "send it as base64 data or a file id",
            param="content",
        )
    if part.filename:
        file["filename"] = part.filename
    elif part.data is not None:
        file["filename"] = (
            "document.pdf" if part.media_type in (None, "application/pdf") else "file"
        )
    return {"type": "file", "file": {**native, **file}}


def _inline_text(part: ir.File) -> str | None:
    """A plain-text document's text (Chat ``file`` parts take PDFs, not text files)."""
    media = part.media_type or ""
    if part.data is None or not (media.startswith("text/") or media == "application/json"):
        return None
    try:
        return base64.b64decode(part.data).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
