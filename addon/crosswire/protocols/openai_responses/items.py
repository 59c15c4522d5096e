"""Assistant-side items (``message``, ``reasoning``, ``function_call``, the rest) ⇄ IR parts.

Shared by requests (the history a client sends back), whole answers and streams, so that the
three agree part for part (``accumulate(stream) == decode_response(completed.response)``).

Reasoning items. A ``reasoning`` item holds visible text (``summary`` parts, or ``content``
``reasoning_text`` parts from open models) and opaque state (``encrypted_content``). Streams
deliver the text first and the final ``encrypted_content`` only in ``output_item.done``; the
IR has no delta for opaque data that arrives after text. So one item becomes up to two parts:

* ``Reasoning(text=<summaries joined by a blank line>, origin=NAME)`` — present when the item
  has summary/content entries or no ``encrypted_content`` (it keeps the item and its id);
* ``Reasoning(redacted=<encrypted_content>, origin=NAME)`` — present when there is one.

Both carry ``native[NAME]["id"]``; encoders merge such a pair back into one item. Other
client protocols then show the text (an Anthropic client shows a thinking block) and keep or
drop the opaque part by their own rule. ``encrypted_content`` wrapped by ``envelope`` holds
another provider's reasoning state and decodes to one ``Reasoning`` of that origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from crosswire import ir
from crosswire.protocols import envelope
from crosswire.protocols.common import as_list
from crosswire.protocols.openai_responses.mapping import NAME

#: Between two summary/content entries of one reasoning item.
REASONING_JOIN = "\n\n"

_CALL_KEYS = frozenset({"type", "id", "call_id", "name", "arguments", "status"})


def own(part: ir.Part) -> dict[str, Any]:
    return dict(part.native.get(NAME) or {})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---- decode -----------------------------------------------------------------------------------


def item_native(item: dict[str, Any]) -> dict[str, Any]:
    """What a message item says about itself that its text parts carry (``id``, ``phase``)."""
    out: dict[str, Any] = {}
    if isinstance(item.get("id"), str):
        out["item_id"] = item["id"]
    if isinstance(item.get("phase"), str):
        out["phase"] = item["phase"]
    return out


def with_item(part: ir.Part, meta: dict[str, Any]) -> ir.Part:
    """``part`` with the message item's id/phase in its native (text and content-level
    opaque parts only)."""
    if isinstance(part, ir.Text):
        if not meta:
            return part
        return ir.Text(text=part.text, native={**part.native, NAME: {**meta, **own(part)}})
    if isinstance(part, ir.Opaque):
        return ir.Opaque(
            origin=part.origin, data=part.data, native={NAME: {**meta, "content": True}}
        )
    return part


def output_text_part(c: dict[str, Any], meta: dict[str, Any]) -> ir.Part:
    """One content part of an upstream ``message`` item (lenient: upstream bodies)."""
    kind = c.get("type")
    if kind == "output_text":
        native = dict(meta)
        annotations = c.get("annotations")
        if isinstance(annotations, list) and annotations:
            native["annotations"] = annotations
        return ir.Text(text=str(c.get("text") or ""), native={NAME: native} if native else {})
    if kind == "refusal":
        return ir.Text(text=str(c.get("refusal") or ""), native={NAME: {**meta, "refusal": True}})
    return ir.Opaque(origin=NAME, data=c, native={NAME: {**meta, "content": True}})


def message_parts(item: dict[str, Any]) -> list[ir.Part]:
    meta = item_native(item)
    content = item.get("content")
    if isinstance(content, str):
        return [ir.Text(text=content, native={NAME: meta} if meta else {})]
    return [output_text_part(c, meta) for c in as_list(content) if isinstance(c, dict)]


def tool_call_part(item: dict[str, Any], fallback_id: str) -> ir.ToolCall:
    """A ``function_call`` item: ``call_id`` is the IR id, the ``fc_…`` item id stays in
    native (edge 26 in docs/edge-cases.md: the two are distinct)."""
    args = item.get("arguments")
    if args is None:
        arguments = ""
    elif isinstance(args, str):
        arguments = args
    else:
        arguments = json.dumps(args, ensure_ascii=False)
    native = {k: v for k, v in item.items() if k not in _CALL_KEYS}
    if isinstance(item.get("id"), str):
        native["id"] = item["id"]
    return ir.ToolCall(
        id=_str(item.get("call_id")) or _str(item.get("id")) or fallback_id,
        name=str(item.get("name") or ""),
        arguments=arguments,
        native={NAME: native} if native else {},
    )


def reasoning_texts(item: dict[str, Any]) -> tuple[list[str], list[str]]:
    summary = [
        str(s.get("text") or "") for s in as_list(item.get("summary")) if isinstance(s, dict)
    ]
    content = [
        str(c.get("text") or "") for c in as_list(item.get("content")) if isinstance(c, dict)
    ]
    return summary, content


def reasoning_parts(item: dict[str, Any], report: ir.Report | None = None) -> list[ir.Part]:
    """A ``reasoning`` item → the text part and/or the opaque part (see the module doc)."""
    rid = _str(item.get("id"))
    summary, content = reasoning_texts(item)
    text = REASONING_JOIN.join(summary + content)
    native: dict[str, Any] = {"id": rid} if rid else {}
    if len(summary) > 1 or content:
        native["summary"], native["content"] = summary, content
    enc = _str(item.get("encrypted_content"))
    if enc is not None and envelope.is_envelope(enc):
        env = envelope.unpack(enc)
        if env is not None:
            return [
                ir.Reasoning(
                    text=text,
                    signature=env.signature,
                    redacted=env.redacted,
                    origin=env.origin,
                    native={NAME: native} if native else {},
                )
            ]
        if report is not None:
            report.dropped("reasoning.encrypted_content", "a damaged crosswire envelope")
        enc = None
    parts: list[ir.Part] = []
    if summary or content or enc is None:
        parts.append(ir.Reasoning(text=text, origin=NAME, native={NAME: native} if native else {}))
    if enc is not None:
        parts.append(
            ir.Reasoning(redacted=enc, origin=NAME, native={NAME: {"id": rid}} if rid else {})
        )
    return parts


def output_item_parts(item: dict[str, Any], fallback_id: str) -> list[ir.Part]:
    """Any upstream output item → parts; unknown item types (web search calls, custom tool
    calls, compaction…) stay whole as ``Opaque``."""
    kind = item.get("type")
    if kind == "message":
        return message_parts(item)
    if kind == "function_call":
        return [tool_call_part(item, fallback_id)]
    if kind == "reasoning":
        return reasoning_parts(item)
    return [ir.Opaque(origin=NAME, data=item)]


# ---- encode: grouping parts back into items ---------------------------------------------------

GroupKind = Literal["message", "reasoning", "call", "item", "other"]


@dataclass(slots=True)
class Group:
    """Consecutive parts that form one item."""

    kind: GroupKind
    parts: list[ir.Part] = field(default_factory=list)
    item_id: str | None = None


def is_message_part(part: ir.Part) -> bool:
    return isinstance(part, ir.Text) or (
        isinstance(part, ir.Opaque) and part.origin == NAME and bool(own(part).get("content"))
    )


def continues_reasoning(previous: ir.Part, part: ir.Part) -> bool:
    """``part`` is the opaque half of the item ``previous`` started (same origin and id)."""
    return (
        isinstance(previous, ir.Reasoning)
        and isinstance(part, ir.Reasoning)
        and previous.origin == NAME
        and part.origin == NAME
        and previous.redacted is None
        and part.redacted is not None
        and not part.text
        and own(previous).get("id") == own(part).get("id")
    )


def group_parts(parts: tuple[ir.Part, ...] | list[ir.Part]) -> list[Group]:
    groups: list[Group] = []
    for part in parts:
        last = groups[-1] if groups else None
        if is_message_part(part):
            item_id = own(part).get("item_id")
            if last is not None and last.kind == "message" and last.item_id == item_id:
                last.parts.append(part)
            else:
                groups.append(Group("message", [part], item_id))
        elif isinstance(part, ir.Reasoning):
            if (
                last is not None
                and last.kind == "reasoning"
                and continues_reasoning(last.parts[-1], part)
            ):
                last.parts.append(part)
            else:
                groups.append(Group("reasoning", [part], own(part).get("id")))
        elif isinstance(part, ir.ToolCall):
            groups.append(Group("call", [part], own(part).get("id")))
        elif isinstance(part, ir.Opaque) and part.origin == NAME:
            groups.append(Group("item", [part]))
        else:
            groups.append(Group("other", [part]))
    return groups


@dataclass(frozen=True, slots=True)
class ReasoningState:
    """One reasoning group, folded: visible text (as summary entries, and ``reasoning_text``
    content entries when the item had them) and opaque state."""

    text: str
    summary: list[str]
    content: list[str]
    origin: str | None
    signature: str | None
    redacted: str | None


def fold_reasoning(parts: list[ir.Part]) -> ReasoningState:
    first = parts[0]
    assert isinstance(first, ir.Reasoning)
    text = "".join(p.text for p in parts if isinstance(p, ir.Reasoning))
    redacted = next(
        (p.redacted for p in parts if isinstance(p, ir.Reasoning) and p.redacted is not None),
        None,
    )
    native = own(first)
    summary = [s for s in as_list(native.get("summary")) if isinstance(s, str)]
    content = [c for c in as_list(native.get("content")) if isinstance(c, str)]
    if not (summary or content) or REASONING_JOIN.join(summary + content) != text:
        summary, content = ([text] if text else []), []
    return ReasoningState(
        text=text,
        summary=summary,
        content=content,
        origin=first.origin,
        signature=first.signature,
        redacted=redacted,
    )


def encrypted_for_client(state: ReasoningState) -> str | None:
    """What a Responses *client* gets in ``encrypted_content``: OpenAI's own state as it is,
    another provider's wrapped in the envelope, nothing when there is none."""
    if state.origin == NAME:
        return state.redacted if state.redacted is not None else state.signature
    if state.origin and (state.signature or state.redacted is not None):
        return envelope.pack(state.origin, state.signature, state.redacted)
    return None


def summary_list(summary: list[str]) -> list[dict[str, Any]]:
    return [{"type": "summary_text", "text": s} for s in summary]


def output_content(part: ir.Part) -> dict[str, Any]:
    """One content part of an output ``message`` item."""
    native = own(part)
    if isinstance(part, ir.Opaque):
        return dict(part.data)
    assert isinstance(part, ir.Text)
    if native.get("refusal"):
        return {"type": "refusal", "refusal": part.text}
    return {"type": "output_text", "text": part.text, "annotations": native.get("annotations", [])}


def opaque_item(part: ir.Opaque) -> dict[str, Any]:
    return dict(part.data)
