"""One Gemini ``Part`` ↔ one IR part, shared by requests and answers.

Gemini parts are "one data field plus metadata": ``text`` (``thought: true`` makes it a
thought summary), ``inlineData``, ``fileData``, ``functionCall``, ``functionResponse``,
``executableCode``… and, on any of them, a ``thoughtSignature``. Signatures are opaque state
only Gemini can verify, so they live where only this codec reads them: ``Reasoning.signature``
(origin ``gemini``) on thoughts, ``native["gemini"]["thoughtSignature"]`` on text, files and
function calls. Parts the IR has no type for (code execution) become ``Opaque``.

https://ai.google.dev/api/caching#Part
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from crosswire.ir import (
    File,
    Opaque,
    Part,
    Reasoning,
    Report,
    Text,
    ToolCall,
    UnsupportedFeature,
)
from crosswire.protocols.common import (
    dumps_str,
    expect,
    file_kind,
    normalise_base64,
    normalise_media_type,
    parse_data_url,
    sniff_media_type,
)
from crosswire.protocols.gemini.callids import wire_id
from crosswire.protocols.gemini.fields import get, has, opt, rest
from crosswire.protocols.gemini.rawjson import Raw, object_text

NAME: Final = "gemini"

#: The data fields of a Part; anything else next to them is metadata kept in ``native``.
DATA_FIELDS: Final = ("text", "functionCall", "functionResponse", "inlineData", "fileData")
PART_KNOWN: Final = frozenset({*DATA_FIELDS, "thought", "thoughtSignature"})
CALL_KNOWN: Final = frozenset({"name", "args", "id"})

#: URIs Gemini's ``fileData.fileUri`` can read (edge case 53): Files API, Cloud Storage and
#: YouTube. Anything else must be fetched and inlined, which a sans-IO codec cannot do.
FILE_URI: Final = re.compile(
    r"^(gs://|https://generativelanguage\.googleapis\.com/|"
    r"https://(www\.|m\.)?youtube\.com/|https://youtu\.be/)"
)
FILES_API_BASE: Final = "https://generativelanguage.googleapis.com/v1beta/"

MakeId = Callable[[str, str], str]


def native_of(extras: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {NAME: dict(extras)} if extras else {}


def gemini_native(node_native: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    return node_native.get(NAME) or {}


# ---- wire → IR ------------------------------------------------------------------------------


def args_text(args: Any) -> str:
    """``functionCall.args`` as raw JSON text (``""`` when absent)."""
    if args is None:
        return ""
    return dumps_str(args)


def decode_part(part: Any, path: str, make_id: MakeId) -> Part:
    """A wire part (not a ``functionResponse``: requests pair those with their calls).
    Parts with no IR type become ``Opaque``; encoders of other protocols drop those with a
    note."""
    part = expect(part, dict, path)
    signature = opt(part, "thoughtSignature", str, path)
    extras = rest(part, PART_KNOWN)
    extras_sig = {**extras, "thoughtSignature": signature} if signature is not None else extras

    call = get(part, "functionCall")
    if call is not None:
        call = expect(call, dict, f"{path}.functionCall")
        name = opt(call, "name", str, f"{path}.functionCall") or ""
        args = opt(call, "args", dict, f"{path}.functionCall")
        arguments = args_text(args)
        call_id = opt(call, "id", str, f"{path}.functionCall") or make_id(name, arguments)
        native = dict(extras_sig)
        call_extras = rest(call, CALL_KNOWN)
        if call_extras:
            native["functionCall"] = call_extras
        return ToolCall(id=call_id, name=name, arguments=arguments, native=native_of(native))

    inline = get(part, "inlineData")
    if inline is not None:
        inline = expect(inline, dict, f"{path}.inlineData")
        media_type = normalise_media_type(opt(inline, "mimeType", str, f"{path}.inlineData"))
        data = opt(inline, "data", str, f"{path}.inlineData") or ""
        return File(
            kind=file_kind(media_type),  # type: ignore[arg-type]
            media_type=media_type,
            data=normalise_base64(data),
            filename=opt(inline, "displayName", str, f"{path}.inlineData"),
            native=native_of(extras_sig),
        )

    file_data = get(part, "fileData")
    if file_data is not None:
        file_data = expect(file_data, dict, f"{path}.fileData")
        media_type = normalise_media_type(opt(file_data, "mimeType", str, f"{path}.fileData"))
        return File(
            kind=file_kind(media_type),  # type: ignore[arg-type]
            media_type=media_type,
            url=opt(file_data, "fileUri", str, f"{path}.fileData") or "",
            filename=opt(file_data, "displayName", str, f"{path}.fileData"),
            native=native_of(extras_sig),
        )

    if "text" in part:
        text = expect(part["text"], str, f"{path}.text") if part["text"] is not None else ""
        if part.get("thought") is True:
            return Reasoning(text=text, signature=signature, origin=NAME, native=native_of(extras))
        return Text(text=text, native=native_of(extras_sig))

    # executableCode, codeExecutionResult, a bare thoughtSignature, future part types.
    return Opaque(origin=NAME, data=part)


def is_function_response(part: Any) -> bool:
    return isinstance(part, dict) and has(part, "functionResponse")


# ---- IR → wire ------------------------------------------------------------------------------


def with_native(
    modelled: dict[str, Any], native: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``modelled`` with this codec's native extras merged in (modelled keys win)."""
    extras = gemini_native(native)
    if not extras:
        return modelled
    merged = {k: v for k, v in extras.items() if k != "functionCall"}
    merged.update(modelled)
    return merged


def text_part(part: Text) -> dict[str, Any]:
    return with_native({"text": part.text}, part.native)


def thought_part(part: Reasoning, *, signed: bool) -> dict[str, Any]:
    """A thought; the signature only when ``signed`` (Gemini origin)."""
    out: dict[str, Any] = {"text": part.text, "thought": True}
    if signed and part.signature:
        out["thoughtSignature"] = part.signature
    return with_native(out, part.native) if signed else out


def arguments_object(arguments: str, name: str, report: Report) -> Raw:
    """``ToolCall.arguments`` as the ``args`` object, embedded verbatim when it is a JSON
    object; anything else (a cut-off stream's half object) becomes ``{}`` with a note."""
    text = object_text(arguments)
    if text is None:
        report.dropped(f"tool call {name} arguments", "not a JSON object; sent as {}")
        return Raw("{}")
    return Raw(text)


def call_part(part: ToolCall, report: Report, *, signature: str | None = None) -> dict[str, Any]:
    """A ``functionCall`` part; a synthetic id is left out (edge case 29)."""
    call: dict[str, Any] = {
        "name": part.name,
        "args": arguments_object(part.arguments, part.name, report),
    }
    call_id = wire_id(part.id)
    if call_id is not None:
        call["id"] = call_id
    extras = gemini_native(part.native)
    call_extras = extras.get("functionCall")
    if isinstance(call_extras, Mapping):
        call = {**call_extras, **call}
    out = with_native({"functionCall": call}, part.native)
    if signature is not None:
        out["thoughtSignature"] = signature
    return out


def call_signature(part: ToolCall) -> str | None:
    sig = gemini_native(part.native).get("thoughtSignature")
    return sig if isinstance(sig, str) else None


def file_data_uri(part: File) -> str | None:
    """The ``fileUri`` Gemini can read for ``part``, if any."""
    if part.url and FILE_URI.match(part.url):
        return part.url
    if part.file_id and part.file_id.startswith("files/"):
        return FILES_API_BASE + part.file_id
    return None


def file_part(part: File, *, upstream: bool) -> dict[str, Any]:
    """``inlineData`` or ``fileData``. Upstream, a URL Gemini cannot read raises
    ``UnsupportedFeature`` (fetching is I/O, which codecs do not do); towards a client any
    URL is shown as ``fileData``."""
    media_type = part.media_type
    if part.data is not None:
        media_type = media_type or sniff_media_type(part.data) or "application/octet-stream"
        inline: dict[str, Any] = {"mimeType": media_type, "data": part.data}
        return with_native({"inlineData": inline}, part.native)
    if part.url and part.url.startswith("data:"):
        parsed = parse_data_url(part.url)
        assert parsed is not None
        parsed_type, data = parsed
        media_type = (
            media_type or parsed_type or sniff_media_type(data) or "application/octet-stream"
        )
        return with_native({"inlineData": {"mimeType": media_type, "data": data}}, part.native)
    uri = file_data_uri(part)
    if uri is None and not upstream and (part.url or part.file_id):
        uri = part.url or part.file_id
    if uri is None:
        where = part.url or part.file_id or "(no data)"
        shown = where if len(where) <= 120 else where[:117] + "..."
        raise UnsupportedFeature(
            f"Gemini cannot read the {part.kind} at {shown}: fileData accepts only Files-API, "
            "gs:// and YouTube URIs; send the content inline (base64) instead",
            param="fileData.fileUri",
        )
    file_data: dict[str, Any] = {"fileUri": uri}
    if media_type:
        file_data["mimeType"] = media_type
    return with_native({"fileData": file_data}, part.native)
