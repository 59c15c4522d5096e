"""JSON Schema ↔ Gemini's OpenAPI-subset ``Schema`` (function ``parameters``, ``responseSchema``).

Why a rewrite and not a pass-through: Gemini's legacy ``parameters`` field accepts only an
OpenAPI 3.0 subset and one bad keyword in one tool fails the whole request (edge cases
56–58 in docs/edge-cases.md). Agents send full JSON Schema: Claude Code adds ``$schema`` and
``additionalProperties: false`` to every tool, MCP servers send ``$ref``/``$defs``,
``anyOf`` and ``propertyNames``, pydantic adds ``title``/``default`` everywhere. So
:func:`to_gemini` is a pure function that rewrites any JSON Schema into what Gemini accepts,
and reports which keywords it removed. Rules:

* ``$ref`` into ``$defs``/``definitions`` (any local JSON pointer) is inlined, sibling keywords
  winning; a reference to a schema already being expanded (recursion) becomes a bare node of
  the target's type. ``allOf`` is merged.
* ``type: ["x", "null"]`` → ``type: X, nullable: true``; several non-null types → ``anyOf``.
* ``anyOf``/``oneOf``: null variants become ``nullable``; one remaining variant is merged into
  the node; several are kept as ``anyOf`` — the only keyword of its node (Gemini rejects
  siblings), the node's ``description`` pushed into the variants. Variants that only add
  constraints (``{"required": [...]}``) are dropped.
* ``const`` → a one-value ``enum`` for strings; ``enum`` is kept only for strings (other enums
  are dropped and listed in the description).
* ``format`` kept only where Gemini knows it (``enum``/``date-time`` strings, ``int32``/
  ``int64`` integers, ``float``/``double`` numbers).
* Length/item/range bounds are kept where they fit the type; everything else (``$schema``,
  ``$id``, ``additionalProperties``, ``propertyNames``, ``patternProperties``, ``pattern``,
  ``exclusiveMinimum``/``Maximum``, ``default``, ``examples``, ``title``…) is dropped.
* Untyped nodes get a type from their shape (``properties`` → OBJECT, ``items`` → ARRAY),
  else STRING, because Gemini 3 rejects ``TYPE_UNSPECIFIED``; arrays without ``items`` get
  ``items: {type: STRING}``; empty ``properties`` (and ``required`` names that are not
  properties) are removed.
* The root is forced to ``type: OBJECT``; a root without properties means "no parameters":
  :func:`to_gemini` returns None and the declaration gets no ``parameters``.

:mod:`schema_decode` goes the other way for schemas a Gemini client sent in the OpenAPI form
(upper-case types, ``nullable``), so that other backends receive standard JSON Schema.

https://ai.google.dev/api/caching#Schema
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from crosswire.protocols.gemini.schema_encode import resolve_pointer

_TYPES: Final[dict[str, str]] = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}

#: ``format`` values Gemini accepts, per type.
_FORMATS: Final[dict[str, frozenset[str]]] = {
    "STRING": frozenset({"enum", "date-time"}),
    "INTEGER": frozenset({"int32", "int64"}),
    "NUMBER": frozenset({"float", "double"}),
}

#: Bounds kept when they fit the node's type.
_BOUNDS: Final[dict[str, tuple[str, ...]]] = {
    "STRING": ("minLength", "maxLength"),
    "INTEGER": ("minimum", "maximum"),
    "NUMBER": ("minimum", "maximum"),
    "ARRAY": ("minItems", "maxItems"),
    "OBJECT": ("minProperties", "maxProperties"),
}

#: Keywords handled explicitly (never reported as dropped).
_HANDLED: Final = frozenset(
    {
        "type",
        "nullable",
        "description",
        "enum",
        "const",
        "format",
        "properties",
        "required",
        "items",
        "prefixItems",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
    }
)

#: Keywords whose presence makes an ``anyOf`` variant a schema rather than a constraint.
_SHAPE_KEYWORDS: Final = frozenset(
    {"type", "properties", "items", "$ref", "enum", "const", "anyOf", "oneOf", "allOf"}
)

#: Deeper than this, nodes become STRING (Gemini limits nesting too, and this bounds work).
MAX_DEPTH: Final = 32


def to_gemini(schema: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, frozenset[str]]:
    """The Gemini ``parameters`` for a JSON Schema, and the keywords that were dropped.
    None when the tool takes no parameters."""
    if not isinstance(schema, Mapping) or not schema:
        return None, frozenset()
    sanitiser = _Sanitiser(schema)
    out = sanitiser.node(schema, 0, ())
    if "anyOf" in out:  # the root must be one object
        objects = [v for v in out["anyOf"] if v.get("type") == "OBJECT"]
        out = objects[0] if objects else {"type": "OBJECT"}
        sanitiser.dropped.add("anyOf")
    if out.get("type") != "OBJECT":
        out = {
            "type": "OBJECT",
            **({"description": out["description"]} if "description" in out else {}),
        }
    out.pop("nullable", None)
    if not out.get("properties"):
        return None, frozenset(sanitiser.dropped)
    return out, frozenset(sanitiser.dropped)


def to_gemini_node(schema: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Like :func:`to_gemini` for a schema that need not be an object (``responseSchema``)."""
    sanitiser = _Sanitiser(schema)
    return sanitiser.node(schema, 0, ()), frozenset(sanitiser.dropped)


class _Sanitiser:
    __slots__ = ("dropped", "root")

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.dropped: set[str] = set()

    # ---- references ---------------------------------------------------------------------

    def _deref(
        self, schema: Mapping[str, Any], stack: tuple[str, ...]
    ) -> tuple[Mapping[str, Any], tuple[str, ...], bool]:
        """Follow ``$ref`` chains; the bool says a recursive reference was cut."""
        for _ in range(MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                return schema, stack, False
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            target = resolve_pointer(self.root, ref)
            if not isinstance(target, Mapping):
                self.dropped.add("$ref")
                return siblings, stack, False
            if ref in stack:
                kind = target.get("type")
                cut: dict[str, Any] = {"type": kind if isinstance(kind, str) else "object"}
                cut.update({k: v for k, v in siblings.items() if k == "description"})
                self.dropped.add("$ref (recursive)")
                return cut, stack, True
            schema = {**target, **siblings}
            stack = (*stack, ref)
        self.dropped.add("$ref")
        return {}, stack, True

    def _merge_all_of(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> Mapping[str, Any]:
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged: dict[str, Any] = {}
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            part, _, _ = self._deref(part, stack)
            part = self._merge_all_of(part, stack)
            if isinstance(part.get("properties"), Mapping):
                props.update(part["properties"])
            if isinstance(part.get("required"), list):
                required.extend(r for r in part["required"] if r not in required)
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        own = {k: v for k, v in schema.items() if k != "allOf"}
        if isinstance(own.get("properties"), Mapping):
            props.update(own["properties"])
        if isinstance(own.get("required"), list):
            required.extend(r for r in own["required"] if r not in required)
        merged.update({k: v for k, v in own.items() if k not in ("properties", "required")})
        if props:
            merged["properties"] = props
        if required:
            merged["required"] = required
        return merged

    # ---- nodes --------------------------------------------------------------------------

    def node(self, schema: Any, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(schema, Mapping):
            return {"type": "STRING"}  # `true` / `{}`: any value
        if depth > MAX_DEPTH:
            self.dropped.add("nesting deeper than 32")
            return {"type": "STRING"}
        schema, stack, _ = self._deref(schema, stack)
        schema = self._merge_all_of(schema, stack)

        raw_type = schema.get("type")
        nullable = schema.get("nullable") is True
        if isinstance(raw_type, list):
            non_null = [t for t in raw_type if t != "null"]
            nullable = nullable or len(non_null) < len(raw_type)
            if len(non_null) > 1 and "anyOf" not in schema and "oneOf" not in schema:
                rest = {k: v for k, v in schema.items() if k != "type"}
                variants = [{**rest, "type": t} for t in non_null]
                schema = {"anyOf": variants, **({"nullable": True} if nullable else {})}
                return self._union(schema, depth, stack)
            raw_type = non_null[0] if non_null else "null"
        if "anyOf" in schema or "oneOf" in schema:
            return self._union(schema, depth, stack)
        return self._plain(schema, raw_type, nullable, depth, stack)

    def _union(
        self, schema: Mapping[str, Any], depth: int, stack: tuple[str, ...]
    ) -> dict[str, Any]:
        key = "anyOf" if "anyOf" in schema else "oneOf"
        variants = schema.get(key)
        siblings = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        if not isinstance(variants, list):
            self.dropped.add(key)
            return self.node(siblings, depth, stack)
        resolved: list[Mapping[str, Any]] = []
        nullable = schema.get("nullable") is True
        for variant in variants:
            if not isinstance(variant, Mapping):
                continue
            variant, _, _ = self._deref(variant, stack)
            if variant.get("type") == "null" or variant.get("type") == ["null"]:
                nullable = True
            else:
                resolved.append(variant)
        shaped = [v for v in resolved if _SHAPE_KEYWORDS & v.keys()]
        if not shaped:
            if resolved:
                self.dropped.add(key)  # constraint-only variants ({"required": [...]})
            merged = dict(siblings)
            if nullable:
                merged["nullable"] = True
            if not merged.keys() - {"nullable", "description"}:
                merged.setdefault("type", "string")
            return self.node(merged, depth, stack)
        if len(shaped) == 1:
            merged = {**shaped[0], **{k: v for k, v in siblings.items() if k != "nullable"}}
            if nullable:
                merged["nullable"] = True
            return self.node(merged, depth, stack)
        out_variants = [self.node(v, depth + 1, stack) for v in shaped]
        description = siblings.get("description")
        for variant in out_variants:
            if nullable:
                variant["nullable"] = True
            if isinstance(description, str) and "description" not in variant:
                variant["description"] = description
        for name in siblings.keys() - {"description", "nullable", "type"}:
            self.dropped.add(name)
        return {"anyOf": out_variants}

    def _plain(
        self,
        schema: Mapping[str, Any],
        raw_type: Any,
        nullable: bool,
        depth: int,
        stack: tuple[str, ...],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        gtype = _TYPES.get(raw_type.lower()) if isinstance(raw_type, str) else None
        if raw_type == "null":
            nullable = True
        description = schema.get("description")

        enum = schema.get("enum")
        if "const" in schema and enum is None:
            enum = [schema["const"]]
        values: list[Any] | None = None
        if isinstance(enum, list):
            if None in enum:
                nullable = True
            values = [v for v in enum if v is not None]

        if gtype is None:
            if isinstance(schema.get("properties"), Mapping):
                gtype = "OBJECT"
            elif "items" in schema or "prefixItems" in schema:
                gtype = "ARRAY"
            else:
                gtype = "STRING"
                if values and all(isinstance(v, bool) for v in values):
                    gtype = "BOOLEAN"
                elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                    gtype = "INTEGER"
                elif values and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
                ):
                    gtype = "NUMBER"
        out["type"] = gtype

        if isinstance(description, str) and description:
            out["description"] = description
        if nullable:
            out["nullable"] = True

        if values is not None:
            if gtype == "STRING" and values and all(isinstance(v, str) for v in values):
                out["enum"] = values
            elif values:
                self.dropped.add("enum (non-string)")
                allowed = "Allowed values: " + ", ".join(_show(v) for v in values)
                out["description"] = (
                    f"{out['description']} ({allowed})" if "description" in out else allowed
                )

        fmt = schema.get("format")
        if isinstance(fmt, str):
            if fmt in _FORMATS.get(gtype, ()):
                out["format"] = fmt
            else:
                self.dropped.add(f"format {fmt}")

        for bound in _BOUNDS.get(gtype, ()):
            value = schema.get(bound)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[bound] = value

        if gtype == "OBJECT":
            props = schema.get("properties")
            if isinstance(props, Mapping) and props:
                out["properties"] = {
                    str(name): self.node(sub, depth + 1, stack) for name, sub in props.items()
                }
                required = schema.get("required")
                if isinstance(required, list):
                    kept = [r for r in required if isinstance(r, str) and r in out["properties"]]
                    if kept:
                        out["required"] = list(dict.fromkeys(kept))
        elif gtype == "ARRAY":
            items = schema.get("items")
            if items is None or isinstance(items, list):
                tuple_items = items if isinstance(items, list) else schema.get("prefixItems")
                if isinstance(tuple_items, list) and tuple_items:
                    self.dropped.add("prefixItems")
                    items = tuple_items[0]
            out["items"] = self.node(items if items is not None else {}, depth + 1, stack)

        for key in schema:
            if key not in _HANDLED and key not in _BOUNDS.get(gtype, ()):
                self.dropped.add(key)
        return out


def _show(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else repr(value)
        if not isinstance(value, bool)
        else str(value).lower()
    )


# ---- Gemini → JSON Schema -------------------------------------------------------------------


def strip_root_dialect(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A full JSON Schema for ``parametersJsonSchema``/``responseJsonSchema``: only the root
    ``$schema``/``$id`` are removed (edge case 56)."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
