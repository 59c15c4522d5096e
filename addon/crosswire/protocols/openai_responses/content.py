"""Input content parts (``input_text``, ``input_image``, ``input_file``, ``input_audio``…) ⇄ IR.

Used for message content and for ``function_call_output.output`` lists, in both directions.
Reference: https://platform.openai.com/docs/api-reference/responses/create#responses-create-input
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import ClientRequestError, UnsupportedFeature
from crosswire.protocols.common import (
    data_url,
    expect,
    file_kind,
    normalise_base64,
    optional,
    parse_data_url,
)
from crosswire.protocols.openai_responses.mapping import (
    AUDIO_FORMAT,
    EXTENSION_FOR_MEDIA_TYPE,
    MEDIA_TYPE_FOR_EXTENSION,
    NAME,
)

_TEXT_TYPES = frozenset({"input_text", "output_text", "text"})
_TEXT_KEYS = frozenset({"type", "text", "annotations", "logprobs"})
_IMAGE_KEYS = frozenset({"type", "image_url", "file_id"})
_FILE_KEYS = frozenset({"type", "file_data", "file_url", "file_id", "filename"})


def native_of(node: dict[str, Any], modelled: frozenset[str]) -> dict[str, dict[str, Any]]:
    """``{NAME: {unmodelled keys}}``, or ``{}`` when there are none."""
    extra = {k: v for k, v in node.items() if k not in modelled}
    return {NAME: extra} if extra else {}


def own_native(node: ir.Text | ir.File | ir.Message | ir.Tool | ir.ToolResult) -> dict[str, Any]:
    """What this protocol's decoder kept on the node (a copy the caller may edit)."""
    return dict(node.native.get(NAME) or {})


# ---- decode -----------------------------------------------------------------------------------


def decode_content(content: Any, where: str) -> tuple[ir.Part, ...]:
    """Message content: a string or a list of content parts."""
    if content is None:
        return ()
    if isinstance(content, str):
        return (ir.Text(text=content),)
    return tuple(
        decode_part(expect(c, dict, f"{where}[{i}]"), f"{where}[{i}]")
        for i, c in enumerate(expect(content, list, where))
    )


def decode_part(c: dict[str, Any], where: str) -> ir.Part:
    kind = c.get("type")
    if kind in _TEXT_TYPES:
        native = native_of(c, _TEXT_KEYS)
        annotations = c.get("annotations")
        if isinstance(annotations, list) and annotations:
            native.setdefault(NAME, {})["annotations"] = annotations
        return ir.Text(text=expect(c.get("text"), str, f"{where}.text"), native=native)
    if kind == "refusal":
        text = expect(c.get("refusal"), str, f"{where}.refusal")
        return ir.Text(text=text, native={NAME: {"refusal": True}})
    if kind == "input_image":
        return _image(c, where)
    if kind == "input_file":
        return _file(c, where)
    if kind == "input_audio":
        return _audio(c, where)
    return ir.Opaque(origin=NAME, data=c)


def _image(c: dict[str, Any], where: str) -> ir.File:
    native = native_of(c, _IMAGE_KEYS)
    url = optional(c, "image_url", str, f"{where}.image_url")
    file_id = optional(c, "file_id", str, f"{where}.file_id")
    if url is not None:
        parsed = parse_data_url(url)
        if parsed is not None:
            return ir.File(kind="image", media_type=parsed[0], data=parsed[1], native=native)
        return ir.File(kind="image", url=url, native=native)
    if file_id is None:
        raise ClientRequestError(f"'{where}' needs image_url or file_id", param=where)
    return ir.File(kind="image", file_id=file_id, native=native)


def _file(c: dict[str, Any], where: str) -> ir.File:
    native = native_of(c, _FILE_KEYS)
    filename = optional(c, "filename", str, f"{where}.filename")
    raw = optional(c, "file_data", str, f"{where}.file_data")
    media: str | None = None
    data: str | None = None
    if raw is not None:
        parsed = parse_data_url(raw)
        if parsed is not None:
            media, data = parsed
        else:
            data = normalise_base64(raw)  # bare base64 occurs in the wild
    if media is None and filename:
        media = MEDIA_TYPE_FOR_EXTENSION.get(_extension(filename))
    file_url = optional(c, "file_url", str, f"{where}.file_url")
    file_id = optional(c, "file_id", str, f"{where}.file_id")
    if data is None and file_url is None and file_id is None:
        raise ClientRequestError(f"'{where}' needs file_data, file_url or file_id", param=where)
    return ir.File(
        kind=file_kind(media) if media else "document",
        media_type=media,
        data=data,
        url=file_url,
        file_id=file_id,
        filename=filename,
        native=native,
    )


def _audio(c: dict[str, Any], where: str) -> ir.File:
    audio = expect(c.get("input_audio"), dict, f"{where}.input_audio")
    data = expect(audio.get("data"), str, f"{where}.input_audio.data")
    fmt = optional(audio, "format", str, f"{where}.input_audio.format") or "wav"
    media = "audio/mpeg" if fmt == "mp3" else f"audio/{fmt}"
    return ir.File(kind="audio", media_type=media, data=normalise_base64(data))


# ---- encode -----------------------------------------------------------------------------------


def encode_part(part: ir.Part, report: ir.Report, where: str) -> dict[str, Any] | None:
    """One input content part, or None (with a note) for what a user turn cannot carry."""
    if isinstance(part, ir.Text):
        extra = own_native(part)
        extra.pop("refusal", None)
        extra.pop("annotations", None)
        return {**extra, "type": "input_text", "text": part.text}
    if isinstance(part, ir.File):
        return encode_file(part)
    if isinstance(part, ir.Opaque):
        if part.origin == NAME:
            return dict(part.data)
        report.dropped(str(part.data.get("type") or "block"), f"a {part.origin} block in {where}")
        return None
    report.dropped(part.type, f"{where} cannot hold a {part.type} part")
    return None


def encode_file(part: ir.File) -> dict[str, Any]:
    extra = own_native(part)
    if part.kind == "image":
        out: dict[str, Any] = {**extra, "type": "input_image"}
        out.setdefault("detail", "auto")  # required by the API
        if part.file_id and not (part.data or part.url):
            out["file_id"] = part.file_id
        else:
            out["image_url"] = part.url or data_url(part.media_type, part.data or "")
        return out
    if part.kind == "audio":
        fmt = AUDIO_FORMAT.get(part.media_type or "")
        if fmt is None or not part.data:
            raise UnsupportedFeature(
                f"audio input ({part.media_type or 'unknown type'}): the Responses API takes "
                "inline wav or mp3 only",
                param="input",
            )
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": fmt}}
    out = {**extra, "type": "input_file"}
    if part.data:
        media = part.media_type or "application/pdf"
        out["file_data"] = data_url(media, part.data)
        out["filename"] = part.filename or _filename_for(media)
    elif part.url:
        out["file_url"] = part.url
    elif part.file_id:
        out["file_id"] = part.file_id
    if part.filename and "filename" not in out:
        out["filename"] = part.filename
    return out


def _filename_for(media_type: str) -> str:
    """A filename for inline data (the API wants one with ``file_data``)."""
    return "document" + EXTENSION_FOR_MEDIA_TYPE.get(media_type, ".pdf")


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot >= 0 else ""
