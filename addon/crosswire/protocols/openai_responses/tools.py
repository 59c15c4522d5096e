"""Responses tool declarations ⇄ IR tools, and the app-side shape of calls to them.

Responses declares tools in three shapes the other protocols lack:

* ``custom`` (free-form) tools: the model writes plain text, optionally constrained by a
  grammar (``format``), and calls come back as ``custom_tool_call`` items with ``input``.
  In the IR they are ``Tool(freeform=True)`` whose ``parameters`` take one string, ``input``
  (the grammar is quoted in its description), so any backend sees an ordinary function; the
  IR arguments of a call are ``{"input": <text>}`` and ``unwrap`` takes the text back out.
* ``namespace`` tools group function/custom tools; calls name the tool and the ``namespace``.
  The IR name of a namespaced tool is ``<namespace>__<name>`` (plain ``<name>`` in the
  ``functions`` namespace, which Codex treats as no namespace), so names stay unique across
  namespaces and match the function-name pattern every backend accepts.
* ``additional_tools`` input items (Codex's "responses lite" models, which send no top-level
  ``tools``): ``{"type":"additional_tools","role":"developer","tools":[…],"id"?}``. Their tools
  join the IR tools, each remembering its item, so a Responses backend gets the item back.

What the app declared is kept in ``native["openai-responses"]``: ``name`` (the name as
declared), ``namespace``/``namespace_description``, ``custom`` (the custom tool's other keys,
``format`` first of all), ``additional`` (the item's ``id`` and ``role``) and any other keys.

Reference: https://platform.openai.com/docs/guides/function-calling#custom-tools
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crosswire import ir
from crosswire.ir.errors import ClientRequestError
from crosswire.protocols.common import expect, optional
from crosswire.protocols.openai_responses.mapping import NAME

#: The namespace Codex puts its own tools in; a call without a namespace means it too.
DEFAULT_NAMESPACE = "functions"
SEPARATOR = "__"
INPUT = "input"

_FUNCTION_KEYS = frozenset({"type", "name", "description", "parameters", "strict", "function"})
_CUSTOM_KEYS = frozenset({"type", "name", "description"})


def qualified(namespace: str | None, name: str) -> str:
    if not namespace or namespace == DEFAULT_NAMESPACE:
        return name
    return f"{namespace}{SEPARATOR}{name}"


def freeform_parameters(fmt: Any) -> dict[str, Any]:
    """The one-string schema a free-form tool becomes for a function-only backend."""
    description = "The tool's whole input, as plain text (not JSON)."
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        definition = fmt.get("definition")
        syntax = fmt.get("syntax")
        if isinstance(definition, str):
            description += f" It must match this {syntax or ''} grammar:\n{definition}"
    return {
        "type": "object",
        "properties": {INPUT: {"type": "string", "description": description}},
        "required": [INPUT],
        "additionalProperties": False,
    }


def wrap(text: str) -> str:
    """A free-form call's text as IR arguments."""
    return json.dumps({INPUT: text}, ensure_ascii=False)


def unwrap(arguments: str) -> str:
    """The text of a free-form call from its IR arguments; arguments that are not the
    ``{"input": text}`` object (a model that ignored the schema) are the text themselves."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get(INPUT), str):
        return str(value[INPUT])
    return arguments


# ---- decode -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Declared:
    """The tools of one request, in the order the app declared them."""

    tools: list[ir.Tool]
    native_tools: list[ir.NativeTool]

    def add(self, raw: Any, where: str, additional: dict[str, Any] | None = None) -> None:
        """One ``tools`` list (top level, or an ``additional_tools`` item's)."""
        for i, t in enumerate(expect(raw, list, where) if raw is not None else []):
            self._tool(expect(t, dict, f"{where}[{i}]"), f"{where}[{i}]", additional, {})

    def _tool(
        self,
        tool: dict[str, Any],
        where: str,
        additional: dict[str, Any] | None,
        namespace: dict[str, Any],
    ) -> None:
        kind = expect(tool.get("type"), str, f"{where}.type")
        extra: dict[str, Any] = dict(namespace)
        if additional is not None:
            extra["additional"] = additional
        if kind == "function":
            self.tools.append(_function(tool, where, extra))
        elif kind == "custom":
            self.tools.append(_custom(tool, where, extra))
        elif kind == "namespace" and not namespace:
            name = expect(tool.get("name"), str, f"{where}.name")
            inner = {"namespace": name}
            if isinstance(tool.get("description"), str):
                inner["namespace_description"] = tool["description"]
            for j, t in enumerate(expect(tool.get("tools"), list, f"{where}.tools")):
                self._tool(
                    expect(t, dict, f"{where}.tools[{j}]"), f"{where}.tools[{j}]", additional, inner
                )
        else:
            self.native_tools.append(
                ir.NativeTool(origin=NAME, data=tool, native={NAME: extra} if extra else {})
            )


def _function(tool: dict[str, Any], where: str, extra: dict[str, Any]) -> ir.Tool:
    """A flat function tool (edge 35; the Chat shape nested under ``function`` is tolerated)."""
    fn = tool
    if "name" not in tool and isinstance(tool.get("function"), dict):
        fn = tool["function"]
    name = expect(fn.get("name"), str, f"{where}.name")
    native = {k: v for k, v in tool.items() if k not in _FUNCTION_KEYS} | extra
    if "namespace" in extra:
        native["name"] = name
    return ir.Tool(
        name=qualified(extra.get("namespace"), name),
        description=optional(fn, "description", str, f"{where}.description"),
        parameters=optional(fn, "parameters", dict, f"{where}.parameters"),
        strict=optional(fn, "strict", bool, f"{where}.strict"),
        native={NAME: native} if native else {},
    )


def _custom(tool: dict[str, Any], where: str, extra: dict[str, Any]) -> ir.Tool:
    name = expect(tool.get("name"), str, f"{where}.name")
    fmt = tool.get("format")
    if fmt is not None:
        expect(fmt, dict, f"{where}.format")
    native = {"custom": {k: v for k, v in tool.items() if k not in _CUSTOM_KEYS}, **extra}
    if "namespace" in extra:
        native["name"] = name
    return ir.Tool(
        name=qualified(extra.get("namespace"), name),
        description=optional(tool, "description", str, f"{where}.description"),
        parameters=freeform_parameters(fmt),
        freeform=True,
        native={NAME: native},
    )


def additional_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    """The identity of an ``additional_tools`` item its tools remember."""
    role = optional(item, "role", str, f"{where}.role") or "developer"
    if role != "developer":
        raise ClientRequestError(
            f"'{where}.role' must be developer, got {role!r}", param=f"{where}.role"
        )
    key: dict[str, Any] = {"role": role}
    if isinstance(item.get("id"), str):
        key["id"] = item["id"]
    return key


def call_names(item: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """A call item's IR name and what native keeps of its own name and namespace."""
    name = expect(item.get("name"), str, f"{where}.name")
    namespace = optional(item, "namespace", str, f"{where}.namespace")
    if namespace is None:
        return name, {}
    return qualified(namespace, name), {"namespace": namespace, "name": name}


# ---- encode (a Responses backend) -------------------------------------------------------------


def encode_tools(request: ir.Request, report: ir.Report) -> tuple[list[Any], list[dict[str, Any]]]:
    """The top-level ``tools`` and the ``additional_tools`` items, each with its namespaces
    regrouped, in the order the app declared them."""
    top = _Container()
    items: dict[str, _Container] = {}
    keys: dict[str, dict[str, Any]] = {}
    for t in request.tools:
        native = dict(t.native.get(NAME) or {})
        _place(native, top, items, keys).add(_declaration(t, native), native)
    for nt in request.native_tools:
        if nt.origin != NAME:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name') or '?'}",
                f"a {nt.origin} server tool; {NAME} cannot run it",
            )
            continue
        native = dict(nt.native.get(NAME) or {})
        _place(native, top, items, keys).add(dict(nt.data), native)
    extra = [{"type": "additional_tools", **keys[k], "tools": c.entries} for k, c in items.items()]
    return top.entries, extra


def _place(
    native: dict[str, Any],
    top: _Container,
    items: dict[str, _Container],
    keys: dict[str, dict[str, Any]],
) -> _Container:
    additional = native.get("additional")
    if not isinstance(additional, dict):
        return top
    key = json.dumps(additional, sort_keys=True)
    keys.setdefault(key, {k: additional[k] for k in ("id", "role") if k in additional})
    return items.setdefault(key, _Container())


class _Container:
    """A tools list being written: namespaced tools join their namespace's entry."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._namespaces: dict[str, dict[str, Any]] = {}

    def add(self, declaration: dict[str, Any], native: dict[str, Any]) -> None:
        namespace = native.get("namespace")
        if not isinstance(namespace, str):
            self.entries.append(declaration)
            return
        entry = self._namespaces.get(namespace)
        if entry is None:
            entry = {
                "type": "namespace",
                "name": namespace,
                "description": str(native.get("namespace_description") or ""),
                "tools": [],
            }
            self._namespaces[namespace] = entry
            self.entries.append(entry)
        entry["tools"].append(declaration)


_BOOKKEEPING = ("name", "namespace", "namespace_description", "additional", "custom")


def _declaration(t: ir.Tool, native: dict[str, Any]) -> dict[str, Any]:
    name = native.get("name") if isinstance(native.get("name"), str) else t.name
    rest = {k: v for k, v in native.items() if k not in _BOOKKEEPING}
    if t.freeform:
        tool: dict[str, Any] = {**rest, "type": "custom", "name": name}
        if t.description is not None:
            tool["description"] = t.description
        custom = native.get("custom")
        return {**tool, **(custom if isinstance(custom, dict) else {})}
    tool = {**rest, "type": "function", "name": name}
    if t.description is not None:
        tool["description"] = t.description
    tool["parameters"] = (
        t.parameters if t.parameters is not None else {"type": "object", "properties": {}}
    )
    tool["strict"] = bool(t.strict)  # Responses defaults to strict, which rejects most schemas
    return tool


# ---- calls, app side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Declaration:
    name: str
    namespace: str | None
    freeform: bool


class Index:
    """IR tool name → how the app declared it, to give calls back their own shape."""

    def __init__(self, request: ir.Request) -> None:
        self._by_name: dict[str, Declaration] = {}
        for t in request.tools:
            native = t.native.get(NAME) or {}
            name = native.get("name")
            namespace = native.get("namespace")
            self._by_name[t.name] = Declaration(
                name=name if isinstance(name, str) else t.name,
                namespace=namespace if isinstance(namespace, str) else None,
                freeform=t.freeform,
            )

    def is_freeform(self, call: ir.ToolCall) -> bool:
        found = self._by_name.get(call.name)
        return (
            found.freeform
            if found is not None
            else bool((call.native.get(NAME) or {}).get("custom"))
        )

    def call_item(self, call: ir.ToolCall, item_id: str | None) -> dict[str, Any]:
        """The ``function_call`` or ``custom_tool_call`` item for ``call``, with the name and
        namespace the app declared (no ``arguments``/``status`` for the caller to settle)."""
        own = dict(call.native.get(NAME) or {})
        own.pop("id", None)
        own.pop("custom", None)
        found = self._by_name.get(call.name)
        name = found.name if found is not None else str(own.pop("name", call.name))
        own.pop("name", None)
        namespace = found.namespace if found is not None else own.get("namespace")
        own.pop("namespace", None)
        custom = self.is_freeform(call)
        item: dict[str, Any] = {**own, "type": "custom_tool_call" if custom else "function_call"}
        if item_id is not None:
            item["id"] = item_id
        item["call_id"] = call.id
        if namespace is not None:
            item["namespace"] = namespace
        item["name"] = name
        if custom:
            item["input"] = unwrap(call.arguments)
        else:
            item["arguments"] = call.arguments if call.arguments.strip() else "{}"
        return item
