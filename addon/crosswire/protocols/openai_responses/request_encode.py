"""IR ``Request`` → the upstream ``POST /responses`` body.

Decisions (each lossy one is recorded in the report):

* Leading ``system`` messages become ``instructions`` (joined by a blank line); ``developer``
  messages and later system messages stay ``input`` message items with their role, which
  Responses accepts: that keeps a Responses client's developer items where it put them.
* ``store`` is ``false`` unless the app said otherwise. With ``store: false`` a reasoning item
  is replayed by its ``encrypted_content`` — with its id to OpenAI itself, without it to
  other servers (edge 70 in docs/edge-cases.md) — and
  ``include: ["reasoning.encrypted_content"]`` is added when reasoning is requested or the
  history already carries OpenAI reasoning. Reasoning from another provider cannot be
  replayed (OpenAI cannot verify it): dropped with a note.
* ``function_call`` items: ``call_id`` is the IR id; the ``fc_…`` item id is sent only when it
  came from Responses (the API checks the prefix; ids are never invented).
* Tools are flat (edge 35) with ``strict: false`` unless the app said ``true`` — Responses
  defaults to strict, which rejects ordinary schemas. Free-form (``custom``) and namespaced
  tools go back in the shape and place the app declared them (``tools``): an
  ``additional_tools`` item is put at the front of ``input``, where Codex sends it.
* No stop sequences, seed, top_k or penalties exist on Responses: dropped with a note;
  ``n > 1`` is refused.
* Azure (``dialect == "azure"``): the v1 API ``/openai/v1/responses`` (no api-version); with
  ``Target.api_version == "preview"`` the v1 preview (``?api-version=preview``); with a dated
  version (``2025-04-01-preview``) the older ``/openai/responses?api-version=…``. The base URL
  is the resource root, as for the Chat dialect. The deployment name is the ``model``.

Reference: https://platform.openai.com/docs/api-reference/responses/create
Azure: https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.ir.ids import safe_id
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import clamp_temperature, dumps
from crosswire.protocols.openai_responses import items, tools
from crosswire.protocols.openai_responses.content import encode_file, encode_part, own_native
from crosswire.protocols.openai_responses.mapping import (
    EFFORT_ABOVE_BUDGETS,
    EFFORT_FOR_BUDGET,
    MIN_OUTPUT_TOKENS,
    NAME,
    SERVICE_TIERS,
)

_ENCRYPTED = "reasoning.encrypted_content"
#: Servers that take a reasoning item's ``id`` beside its ``encrypted_content`` even with
#: ``store: false`` (OpenAI: recorded, and the SDK's ``ResponseReasoningItemParam`` requires
#: the id). OpenRouter-style servers answer "Item … not found" for it (edge 70).
REASONING_IDS_UNSTORED = frozenset({"openai", "azure"})


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    native = dict(request.native.get(NAME) or {})
    store = native.pop("store", False)
    keep_ids = store is True
    body: dict[str, Any] = {"model": target.model or request.model}
    ids = _Ids(
        stored=keep_ids,
        beside_encrypted=target.dialect in REASONING_IDS_UNSTORED,
        tools=tools.Index(request),
    )
    instructions, input_items = _input(request, ids, report)
    if instructions:
        body["instructions"] = instructions
    body["input"] = input_items
    _tools(request, body, report)
    _params(request, body, report)
    reasoning = _reasoning(request, report)
    if reasoning:
        body["reasoning"] = {**_dict(native.pop("reasoning", None)), **reasoning}
    fmt = _format(request.response_format)
    text = _dict(native.pop("text", None))
    if fmt is not None:
        text["format"] = fmt
    if request.verbosity is not None:
        text["verbosity"] = request.verbosity
    if text:
        body["text"] = text
    body["store"] = store
    include = _include(native.pop("include", None), request, reasoning, keep_ids)
    if include:
        body["include"] = include
    _hints(request, body, report)
    if request.stream:
        body["stream"] = True
    else:
        native.pop("stream_options", None)  # refused without stream: true
    for key, value in native.items():
        body.setdefault(key, value)
    path, query = _endpoint(target)
    return UpstreamCall(
        path=path,
        query=query,
        body=dumps(body),
        stream=request.stream,
        headers={"content-type": "application/json"},
    )


def _hints(request: ir.Request, body: dict[str, Any], report: ir.Report) -> None:
    """The request hints Responses has (all of ``ir.request.HINTS`` but ``verbosity``, which
    goes in ``text``) and ``user``, not repeated when it only mirrors ``safety_identifier``."""
    for key in ("prompt_cache_key", "prompt_cache_retention", "safety_identifier"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.max_tool_calls is not None:
        body["max_tool_calls"] = request.max_tool_calls
    tier = request.service_tier
    if tier is not None:
        if tier in SERVICE_TIERS:
            body["service_tier"] = tier
        else:
            report.dropped("service_tier", f"{tier!r} is not an OpenAI service tier")
    if request.user is not None and request.user != request.safety_identifier:
        body["user"] = request.user


def _include(
    raw: Any, request: ir.Request, reasoning: dict[str, Any] | None, keep_ids: bool
) -> list[str]:
    """The app's ``include``, plus encrypted reasoning when nothing is stored and reasoning
    is requested or already in the history (edge 70)."""
    include = [i for i in raw if isinstance(i, str)] if isinstance(raw, list) else []
    wants = (reasoning is not None and reasoning.get("effort") != "none") or _has_own_state(request)
    if not keep_ids and wants and _ENCRYPTED not in include:
        include.append(_ENCRYPTED)
    return include


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _endpoint(target: Target) -> tuple[str, dict[str, str]]:
    if target.dialect != "azure":
        return "/responses", {}
    version = target.api_version
    if version is None or version == "v1":
        return "/openai/v1/responses", {}
    if version == "preview":
        return "/openai/v1/responses", {"api-version": "preview"}
    return "/openai/responses", {"api-version": version}


# ---- input ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ids:
    """When a reasoning item's id goes back: ``stored`` (``store: true``, the id resolves on
    its own) or ``beside_encrypted`` (the server takes it next to ``encrypted_content``);
    ``tools``: how the app declared each tool (the shape its calls go back in)."""

    stored: bool
    beside_encrypted: bool
    tools: tools.Index


def _input(request: ir.Request, ids: _Ids, report: ir.Report) -> tuple[str, list[dict[str, Any]]]:
    instructions: list[str] = []
    out: list[dict[str, Any]] = []
    leading = True
    for msg in request.messages:
        if leading and msg.role == "system" and all(isinstance(p, ir.Text) for p in msg.parts):
            instructions.append("".join(p.text for p in msg.parts if isinstance(p, ir.Text)))
            continue
        leading = False
        if msg.role == "assistant":
            _assistant(msg, ids, out, report)
        elif msg.role == "tool":
            out += [_tool_output(p) for p in msg.parts if isinstance(p, ir.ToolResult)]
        else:
            where = f"a {msg.role} message"
            content = [c for c in (encode_part(p, report, where) for p in msg.parts) if c]
            if content or not msg.parts:
                out.append(
                    {**own_native(msg), "type": "message", "role": msg.role, "content": content}
                )
    return "\n\n".join(t for t in instructions if t), out


def _assistant(msg: ir.Message, ids: _Ids, out: list[dict[str, Any]], report: ir.Report) -> None:
    for group in items.group_parts(msg.parts):
        first = group.parts[0]
        if group.kind == "message":
            out.append(_assistant_message(group))
        elif group.kind == "reasoning":
            reasoning = _reasoning_item(group, ids, report)
            if reasoning is not None:
                out.append(reasoning)
        elif group.kind == "call" and isinstance(first, ir.ToolCall):
            out.append(_call(first, group.item_id, ids))
        elif group.kind == "item" and isinstance(first, ir.Opaque):
            out.append(items.opaque_item(first))
        elif isinstance(first, ir.Opaque):
            report.dropped(
                str(first.data.get("type") or "block"),
                f"a {first.origin} block {NAME} cannot carry",
            )
        else:
            report.dropped(f"assistant {first.type}", f"{NAME} assistant turns cannot hold it")


def _call(part: ir.ToolCall, wanted: Any, ids: _Ids) -> dict[str, Any]:
    """A ``function_call`` or ``custom_tool_call`` item with the name and namespace the app
    declared; its item id only when it came from Responses (the API checks the prefix)."""
    custom = ids.tools.is_freeform(part)
    prefix = "ctc" if custom else "fc"
    given = wanted if isinstance(wanted, str) and wanted.startswith(prefix) else None
    call = ids.tools.call_item(part, given)
    call["call_id"] = safe_id(part.id)
    return call


def _assistant_message(group: items.Group) -> dict[str, Any]:
    """Plain text goes in the easy-input form (string content), whatever form the app used:
    the one assistant shape both openai 3.54's types (``EasyInputMessageParam``) and the API
    take without an item id (a recorded list of id-less ``output_text`` parts was accepted by
    the API, but the SDK types that list only on an output message with id and status).
    Annotations, refusals and other content parts need the list: with the app's ``msg_`` id
    it is the output message (``status``, ``annotations`` filled in); without one, the list
    as the app sent it."""
    item: dict[str, Any] = {"type": "message", "role": "assistant"}
    phase = items.own(group.parts[0]).get("phase")
    if phase:
        item["phase"] = phase
    content = [_assistant_content(p) for p in group.parts]
    if all(c.keys() == {"type", "text"} for c in content):
        item["content"] = "".join(c["text"] for c in content)
        return item
    mid = group.item_id if isinstance(group.item_id, str) else None
    if mid is not None and mid.startswith("msg"):
        for c in content:
            if c.get("type") == "output_text":
                c.setdefault("annotations", [])
        return {"id": mid, **item, "status": "completed", "content": content}
    item["content"] = content
    return item


def _assistant_content(part: ir.Part) -> dict[str, Any]:
    if isinstance(part, ir.Opaque):
        return dict(part.data)
    assert isinstance(part, ir.Text)
    native = items.own(part)
    if native.get("refusal"):
        return {"type": "refusal", "refusal": part.text}
    content: dict[str, Any] = {"type": "output_text", "text": part.text}
    if native.get("annotations"):
        content["annotations"] = native["annotations"]
    return content


def _reasoning_item(group: items.Group, ids: _Ids, report: ir.Report) -> dict[str, Any] | None:
    state = items.fold_reasoning(group.parts)
    if state.origin != NAME:
        if state.text or state.signature or state.redacted is not None:
            report.dropped(
                "reasoning", f"{state.origin or 'unsigned'} reasoning cannot be replayed to OpenAI"
            )
        return None
    encrypted = state.redacted if state.redacted is not None else state.signature
    rid = group.item_id if isinstance(group.item_id, str) else None
    content = state.content
    item: dict[str, Any] = {"type": "reasoning"}
    keep_ids = ids.stored or (ids.beside_encrypted and encrypted is not None)
    if encrypted is None:
        # Without encrypted_content only the id can bring the reasoning back: it resolves
        # with store: true, and open-model servers take raw reasoning content back.
        if rid is None or not (keep_ids or content):
            report.dropped(
                "reasoning",
                "a reasoning item without encrypted_content cannot be replayed with store: false",
            )
            return None
        keep_ids = True
    if keep_ids and rid is not None:
        item["id"] = rid
    item["summary"] = items.summary_list(state.summary)
    if content:
        item["content"] = [{"type": "reasoning_text", "text": t} for t in content]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def _tool_output(part: ir.ToolResult) -> dict[str, Any]:
    native = own_native(part)
    raw = native.pop("output", None)
    output: Any
    if raw is not None:
        output = raw
    else:
        text = "".join(c.text for c in part.content if isinstance(c, ir.Text))
        if part.is_error:
            text = f"Error: {text}" if text else "Error"  # Responses has no is_error (edge 40)
        files = [c for c in part.content if isinstance(c, ir.File)]
        if files:
            output = ([{"type": "input_text", "text": text}] if text else []) + [
                encode_file(f) for f in files
            ]
        else:
            output = text
    kind = native.pop("item_type", "function_call_output")
    return {**native, "type": kind, "call_id": safe_id(part.call_id), "output": output}


def _has_own_state(request: ir.Request) -> bool:
    return any(
        isinstance(p, ir.Reasoning) and p.origin == NAME and p.redacted is not None
        for m in request.messages
        if m.role == "assistant"
        for p in m.parts
    )


# ---- tools and parameters ---------------------------------------------------------------------


def _tools(request: ir.Request, body: dict[str, Any], report: ir.Report) -> None:
    top, additional = tools.encode_tools(request, report)
    if additional:
        body["input"] = [*additional, *body["input"]]
    if top:
        body["tools"] = top
    choice = request.tool_choice
    if choice is not None and (top or additional or choice.mode == "none"):
        body["tool_choice"] = (
            {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
        )
    if request.parallel_tool_calls is not None and (top or additional):
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _params(request: ir.Request, body: dict[str, Any], report: ir.Report) -> None:
    p = request.params
    if p.n is not None and p.n > 1:
        raise UnsupportedFeature("'n' > 1: the Responses API returns one answer", param="n")
    max_tokens = p.max_tokens
    if max_tokens is not None:
        if max_tokens < MIN_OUTPUT_TOKENS:
            report.clamped(
                "max_output_tokens", f"{max_tokens} → {MIN_OUTPUT_TOKENS} (the API's minimum)"
            )
            max_tokens = MIN_OUTPUT_TOKENS
        body["max_output_tokens"] = max_tokens
    if p.temperature is not None:
        body["temperature"] = clamp_temperature(p.temperature, 2.0, "the Responses API", report)
    if p.top_p is not None:
        body["top_p"] = p.top_p
    for name, value in (
        ("stop", p.stop),
        ("seed", p.seed),
        ("top_k", p.top_k),
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
        ("min_tokens", p.min_tokens),
    ):
        if value is not None and value != ():
            report.dropped(name, "the Responses API has no such parameter")


def _reasoning(request: ir.Request, report: ir.Report) -> dict[str, Any] | None:
    r = request.reasoning
    if r is None:
        return None
    out: dict[str, Any] = {}
    if r.enabled is False:
        asked = r.effort == "none" or NAME in request.native
        out["effort"] = "none" if asked else "minimal"
    elif r.effort:
        out["effort"] = r.effort
    elif r.budget_tokens:
        out["effort"] = next(
            (e for limit, e in EFFORT_FOR_BUDGET if r.budget_tokens <= limit), EFFORT_ABOVE_BUDGETS
        )
        report.moved(
            "thinking.budget_tokens", f"budget {r.budget_tokens} → reasoning.effort {out['effort']}"
        )
    elif r.enabled or r.adaptive:
        out["effort"] = "medium"
    if r.summary:
        out["summary"] = r.summary
    elif r.include_thoughts and r.enabled is not False:
        out["summary"] = "auto"  # the app shows thinking: ask for summaries
    return out or None


def _format(fmt: ir.ResponseFormat | None) -> dict[str, Any] | None:
    """``text.format``: name/strict/schema at this level, not nested (edge 59)."""
    if fmt is None:
        return None
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    out: dict[str, Any] = {
        "type": "json_schema",
        "name": fmt.name or "response",
        "schema": fmt.schema if fmt.schema is not None else {"type": "object"},
    }
    if fmt.strict is not None:
        out["strict"] = fmt.strict
    if fmt.description:
        out["description"] = fmt.description
    return out
