"""The app's ``messages`` (and ``system``) → IR messages.

Content blocks: https://docs.anthropic.com/en/api/messages#body-messages-content

Every block keeps the fields this module does not model (``cache_control``, ``citations``,
``title``, ``context``, ``caller``…) in ``native["anthropic"]`` so that the same codec puts them
back. Block types the IR has no part for (``server_tool_use``, ``web_search_tool_result``,
``container_upload``, whatever Claude Code sends next) become ``Opaque`` parts: never a crash.
A text-source document, and tool-result blocks that are neither text nor files, become ``Text``
(readable by every backend) that carries the original block under ``native["anthropic"]
["block"]``; the Anthropic encoder re-emits that block unchanged.

A user turn ``[tool_result, tool_result, text]`` becomes a ``tool`` message with the results
followed by a ``user`` message with the rest (docs/codecs.md).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import ClientRequestError
from crosswire.ir.parts import FileKind
from crosswire.protocols import envelope
from crosswire.protocols.anthropic.mapping import NAME
from crosswire.protocols.common import (
    dumps_str,
    expect,
    normalise_base64,
    normalise_media_type,
    optional,
)

#: Marks a system message the app put *inside* ``messages`` (Claude Code 2.1): the Anthropic
#: encoder sends it back there instead of into the ``system`` slot.
IN_MESSAGES = "in_messages"
#: A block to re-emit as it was (see the module docstring).
ORIGINAL_BLOCK = "block"

_TEXT_KEYS = frozenset({"type", "text"})
_SOURCE_KEYS = frozenset({"type", "source"})
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input"})
_TOOL_RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error"})
_THINKING_KEYS = frozenset({"type", "thinking", "signature"})
_REDACTED_KEYS = frozenset({"type", "data"})
_MESSAGE_KEYS = frozenset({"role", "content"})


def _native(block: dict[str, Any], modelled: frozenset[str]) -> dict[str, dict[str, Any]]:
    extra = {k: v for k, v in block.items() if k not in modelled}
    return {NAME: extra} if extra else {}


# ---- system ----------------------------------------------------------------------------------


def system_message(value: Any, where: str) -> ir.Message | None:
    """``system`` as a string or text blocks (each block's ``cache_control`` kept)."""
    if isinstance(value, str):
        return ir.Message(role="system", parts=(ir.Text(text=value),)) if value else None
    blocks = expect(value, list, where)
    parts = tuple(text_block(b, f"{where}[{i}]") for i, b in enumerate(blocks))
    return ir.Message(role="system", parts=parts) if parts else None


def text_block(raw: Any, where: str) -> ir.Text:
    block = expect(raw, dict, where)
    if block.get("type", "text") != "text":
        raise ClientRequestError(f"'{where}' must be a text block", param=where)
    return ir.Text(
        text=expect(block.get("text"), str, f"{where}.text"), native=_native(block, _TEXT_KEYS)
    )


# ---- messages --------------------------------------------------------------------------------


def decode_messages(value: Any, report: ir.Report) -> list[ir.Message]:
    names: dict[str, str] = {}  # tool_use id → name, for ToolResult.name
    out: list[ir.Message] = []
    for i, raw in enumerate(expect(value, list, "messages")):
        out.extend(_message(raw, f"messages[{i}]", names, report))
    return out


def _message(raw: Any, where: str, names: dict[str, str], report: ir.Report) -> list[ir.Message]:
    msg = expect(raw, dict, where)
    role = msg.get("role")
    extra = {k: v for k, v in msg.items() if k not in _MESSAGE_KEYS}
    if role == "system":
        content = msg.get("content")
        if isinstance(content, str):
            parts: tuple[ir.Part, ...] = (ir.Text(text=content),) if content else ()
        else:
            blocks = expect(content, list, f"{where}.content")
            parts = tuple(text_block(b, f"{where}.content[{i}]") for i, b in enumerate(blocks))
        return [ir.Message(role="system", parts=parts, native={NAME: {**extra, IN_MESSAGES: True}})]
    if role not in ("user", "assistant"):
        raise ClientRequestError(
            f"'{where}.role' must be user, assistant or system, got {role!r}",
            param=f"{where}.role",
        )
    native = {NAME: extra} if extra else {}
    content = msg.get("content")
    if isinstance(content, str):
        return [
            ir.Message(role=role, parts=(ir.Text(text=content),) if content else (), native=native)
        ]
    rest: list[ir.Part] = []
    results: list[ir.Part] = []
    for j, b in enumerate(expect(content, list, f"{where}.content")):
        part = _block(
            expect(b, dict, f"{where}.content[{j}]"), f"{where}.content[{j}]", names, report
        )
        (results if isinstance(part, ir.ToolResult) else rest).append(part)
    out: list[ir.Message] = []
    if results:
        out.append(ir.Message(role="tool", parts=tuple(results)))
    if rest or not results:
        out.append(ir.Message(role=role, parts=tuple(rest), native=native))
    return out


def _block(b: dict[str, Any], where: str, names: dict[str, str], report: ir.Report) -> ir.Part:
    kind = b.get("type")
    if kind == "text":
        return ir.Text(
            text=expect(b.get("text"), str, f"{where}.text"), native=_native(b, _TEXT_KEYS)
        )
    if kind in ("image", "document"):
        return _source_block(b, where, report)
    if kind == "tool_use":
        call_id = expect(b.get("id"), str, f"{where}.id")
        name = expect(b.get("name"), str, f"{where}.name")
        names[call_id] = name
        args = b.get("input")
        return ir.ToolCall(
            id=call_id,
            name=name,
            arguments="" if args is None else dumps_str(args),
            native=_native(b, _TOOL_USE_KEYS),
        )
    if kind == "tool_result":
        return _tool_result(b, where, names, report)
    if kind == "thinking":
        return _thinking(
            text=optional(b, "thinking", str, f"{where}.thinking") or "",
            signature=optional(b, "signature", str, f"{where}.signature") or None,
            redacted=None,
            native=_native(b, _THINKING_KEYS),
        )
    if kind == "redacted_thinking":
        return _thinking(
            text="",
            signature=None,
            redacted=expect(b.get("data"), str, f"{where}.data"),
            native=_native(b, _REDACTED_KEYS),
        )
    return ir.Opaque(origin=NAME, data=b)


def _thinking(
    *, text: str, signature: str | None, redacted: str | None, native: dict[str, Any]
) -> ir.Reasoning:
    """A thinking block; a crosswire envelope in its signature/data brings another provider's
    reasoning state home (see ``envelope``)."""
    carried = signature if signature is not None else redacted
    if carried is not None and envelope.is_envelope(carried):
        env = envelope.unpack(carried)
        if env is None:  # damaged: the text survives, the state cannot
            return ir.Reasoning(text=text, origin=None, native=native)
        return ir.Reasoning(
            text=text,
            signature=env.signature,
            redacted=env.redacted,
            origin=env.origin,
            native=native,
        )
    return ir.Reasoning(
        text=text, signature=signature, redacted=redacted, origin=NAME, native=native
    )


def _source_block(b: dict[str, Any], where: str, report: ir.Report) -> ir.Part:
    """``image``/``document`` with a base64, url, file, text or content source."""
    source = expect(b.get("source"), dict, f"{where}.source")
    stype = source.get("type")
    kind: FileKind = "image" if b.get("type") == "image" else "document"
    native = _native(b, _SOURCE_KEYS)
    title = b.get("title") if isinstance(b.get("title"), str) else None
    if stype == "base64":
        return ir.File(
            kind=kind,
            media_type=normalise_media_type(
                optional(source, "media_type", str, f"{where}.source.media_type")
            ),
            data=normalise_base64(expect(source.get("data"), str, f"{where}.source.data")),
            filename=title,
            native=native,
        )
    if stype == "url" or stype == "file":
        key = "url" if stype == "url" else "file_id"
        ref = expect(source.get(key), str, f"{where}.source.{key}")
        url, file_id = (ref, None) if stype == "url" else (None, ref)
        return ir.File(kind=kind, url=url, file_id=file_id, filename=title, native=native)
    if stype == "text":
        text = expect(source.get("data"), str, f"{where}.source.data")
        return ir.Text(text=_titled(title, text), native={NAME: {ORIGINAL_BLOCK: b}})
    if stype == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return ir.Text(text=_titled(title, inner), native={NAME: {ORIGINAL_BLOCK: b}})
        if isinstance(inner, list) and all(
            isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
            for c in inner
        ):
            joined = "\n\n".join(c["text"] for c in inner)
            return ir.Text(text=_titled(title, joined), native={NAME: {ORIGINAL_BLOCK: b}})
    return ir.Opaque(origin=NAME, data=b)


def _titled(title: str | None, text: str) -> str:
    """A document's text as other backends see it: its title on the first line."""
    return f"{title}\n\n{text}" if title else text


def _tool_result(
    b: dict[str, Any], where: str, names: dict[str, str], report: ir.Report
) -> ir.ToolResult:
    call_id = expect(b.get("tool_use_id"), str, f"{where}.tool_use_id")
    content = b.get("content")
    inner: list[ir.Text | ir.File] = []
    if isinstance(content, str):
        if content:
            inner.append(ir.Text(text=content))
    elif content is not None:
        for k, c in enumerate(expect(content, list, f"{where}.content")):
            c = expect(c, dict, f"{where}.content[{k}]")
            part = _block(c, f"{where}.content[{k}]", names, report)
            if isinstance(part, (ir.Text, ir.File)):
                inner.append(part)
            else:  # search_result, tool_reference…: readable text, original block kept
                inner.append(ir.Text(text=dumps_str(c), native={NAME: {ORIGINAL_BLOCK: c}}))
    is_error = optional(b, "is_error", bool, f"{where}.is_error")
    return ir.ToolResult(
        call_id=call_id,
        name=names.get(call_id),
        content=tuple(inner),
        is_error=bool(is_error),
        native=_native(b, _TOOL_RESULT_KEYS),
    )
