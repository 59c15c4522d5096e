"""Schemas a Gemini client sent → standard JSON Schema for the IR.

Why: a Gemini app writes schemas in four places (``generationConfig.responseSchema`` /
``responseJsonSchema``, a function declaration's ``parameters`` / ``parametersJsonSchema``,
and its ``response`` / ``responseJsonSchema``), and what it writes is not always standard JSON
Schema even in the ``*JsonSchema`` fields: Gemini accepts its own upper-case type names there
too, and Gemini CLI's model router sends ``responseJsonSchema`` built with the SDK's
``Type.OBJECT``/``Type.STRING`` (``"OBJECT"``, ``"STRING"``). OpenAI and Anthropic refuse those
types (or silently ignore the schema), so every schema is normalised here:

* type names lower-cased (``"OBJECT"`` → ``"object"``, also inside type lists);
  ``TYPE_UNSPECIFIED`` removed;
* ``nullable: true`` → ``"null"`` added to the type (``["string", "null"]``), or a
  ``{"type": "null"}`` variant added to ``anyOf``, or the node wrapped in
  ``anyOf: [node, {"type": "null"}]`` when it has neither; a ``null`` joins a nullable
  ``enum``;
* Gemini-only keywords dropped and reported: ``propertyOrdering`` (standard JSON Schema has
  no property order; Gemini itself follows the order of ``properties``) and ``format: enum``;
  ``example`` becomes ``examples: [example]``;
* in the OpenAPI-subset fields (``responseSchema``, ``parameters``, ``response``), which the API
  parses as the ``Schema`` message, keywords may be snake_case (``any_of``, ``max_items``) and
  ``defs``/``ref`` name ``$defs``/``$ref`` (``#/defs/Pet`` → ``#/$defs/Pet``);
* everything else (``format``, ``enum``, ``items``, ``anyOf``, ``additionalProperties``,
  bounds, ``$defs``/``$ref``) is kept, recursively through every sub-schema position.

Property names, enum values, ``default``/``examples`` values are user data: never renamed.

https://ai.google.dev/api/caching#Schema
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

from crosswire.protocols.gemini.fields import camel

#: Keywords whose value is one sub-schema.
ONE_SUBSCHEMA: Final = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "additionalItems",
        "contentSchema",
    }
)
#: Keywords whose value is a list of sub-schemas.
LIST_OF_SUBSCHEMAS: Final = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
#: Keywords whose value maps names to sub-schemas.
NAMED_SUBSCHEMAS: Final = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def map_subschemas(key: str, value: Any, visit: Callable[[Any], Any]) -> Any:
    """``value`` with ``visit`` applied to each sub-schema it holds when ``key`` is a keyword
    that holds sub-schemas, else ``value`` itself: the positions every schema walk here (this
    module's and ``schema_encode``'s) recurses through."""
    if key in ONE_SUBSCHEMA:
        return visit(value)
    if key in LIST_OF_SUBSCHEMAS and isinstance(value, list):
        return [visit(v) for v in value]
    if key in NAMED_SUBSCHEMAS and isinstance(value, Mapping):
        return {n: visit(s) for n, s in value.items()}
    return value


#: Gemini-only keywords that standard JSON Schema does not have.
_GEMINI_ONLY: Final = frozenset({"propertyOrdering"})
#: Deeper than this, sub-schemas are kept as they are (bounds the work on hostile input).
MAX_DEPTH: Final = 64


def to_standard(schema: Any, *, subset: bool) -> tuple[Any, frozenset[str]]:
    """``schema`` as standard JSON Schema, and the Gemini-only keywords that were dropped.
    ``subset``: the schema came in an OpenAPI-subset field (snake_case and ``defs``/``ref``
    allowed)."""
    dropped: set[str] = set()
    return _node(schema, subset, dropped, 0), frozenset(dropped)


def _key(raw: str, subset: bool) -> str:
    if not subset or raw.startswith("$"):
        return raw
    key = camel(raw)
    return {"defs": "$defs", "ref": "$ref"}.get(key, key)


def _type(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.lower()
        return None if lowered == "type_unspecified" else lowered
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


def _node(schema: Any, subset: bool, dropped: set[str], depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return schema
    out: dict[str, Any] = {}
    nullable = False
    visit = partial(_node, subset=subset, dropped=dropped, depth=depth + 1)
    for raw_key, value in schema.items():
        key = _key(str(raw_key), subset)
        if key == "type":
            kind = _type(value)
            if kind is not None:
                out["type"] = kind
        elif key == "nullable":
            nullable = value is True
        elif key in _GEMINI_ONLY:
            dropped.add(key)
        elif key == "format" and value == "enum":
            dropped.add("format: enum")
        elif key == "example":
            out.setdefault("examples", [value])
        elif key == "$ref" and subset and isinstance(value, str):
            out["$ref"] = value.replace("#/defs/", "#/$defs/", 1)
        else:
            out[key] = map_subschemas(key, value, visit)
    return _with_null(out) if nullable else out


def _with_null(node: dict[str, Any]) -> dict[str, Any]:
    """``nullable: true`` in standard terms."""
    enum = node.get("enum")
    if isinstance(enum, list) and None not in enum:
        node["enum"] = [*enum, None]
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"] if kind != "null" else kind
    elif isinstance(kind, list):
        if "null" not in kind:
            node["type"] = [*kind, "null"]
    elif isinstance(node.get("anyOf"), list):
        if {"type": "null"} not in node["anyOf"]:
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
    elif node:
        description = node.pop("description", None)
        wrapped: dict[str, Any] = {"anyOf": [node, {"type": "null"}]}
        if description is not None:
            wrapped["description"] = description
        return wrapped
    return node
