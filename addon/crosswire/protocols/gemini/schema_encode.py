"""Standard JSON Schema → Gemini's ``parametersJsonSchema`` / ``responseJsonSchema``.

Why these fields and not ``parameters`` / ``responseSchema``: the subset fields are parsed as
Gemini's ``Schema`` message, so one keyword it has no field for (``additionalProperties``,
``$schema``, ``exclusiveMinimum``, ``uniqueItems``, ``propertyNames``…) anywhere in one tool
fails the whole request with "Unknown name … Cannot find field", and unions, ``$ref`` and
non-string enums must be rewritten lossily (:mod:`schema`). The ``*JsonSchema`` fields are a
free-form JSON value that Gemini reads as JSON Schema: keywords it does not enforce are
ignored instead of refused, and ``anyOf``, type lists, ``additionalProperties``,
``prefixItems``, numeric enums and bounds keep their meaning. google-genai's own ``Schema``
documentation recommends them ("JSON Schema is now supported natively … users are
recommended to pass JSON Schema directly"), and Gemini CLI declares every tool with
``parametersJsonSchema``. Gemini 1.x models predate them and still get the subset.

What Gemini still refuses in these fields, and is therefore rewritten here:

* a root ``$schema`` / ``$id`` (edge case 56 in docs/edge-cases.md);
* ``$ref`` next to other keywords ("only description and default can be set alongside it"),
  and references it cannot resolve ("reference to undefined schema"): every local reference is
  inlined (sibling keywords win), ``$defs``/``definitions`` removed; a recursive reference
  becomes a bare node of the target's type (Gemini unrolls cycles only under optional
  properties, which a converter cannot guarantee); a non-local one is dropped;
* a tool's root must be an object; a root without properties means "no parameters".

https://ai.google.dev/api/caching#FunctionDeclaration
https://ai.google.dev/api/generate-content#GenerationConfig
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Final

from crosswire.protocols.gemini.schema_decode import map_subschemas

_DEFINITIONS: Final = frozenset({"$defs", "definitions"})
_ROOT_ONLY: Final = frozenset({"$schema", "$id"})
MAX_DEPTH: Final = 32


def parameters_json_schema(
    schema: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, frozenset[str]]:
    """A tool's ``parametersJsonSchema`` (None: the tool takes no parameters), and what was
    removed."""
    if not isinstance(schema, Mapping) or not schema:
        return None, frozenset()
    out, dropped = response_json_schema(schema)
    kind = out.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
    if not is_object and "properties" not in out:
        return None, dropped | {"non-object root"}
    if isinstance(kind, list):
        out["type"] = "object"
    if not out.get("properties") and out.get("additionalProperties") in (None, False):
        return None, dropped
    return out, dropped


def response_json_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """``responseJsonSchema`` for any JSON Schema, and the keywords that were removed."""
    inliner = _Inliner(schema)
    root = {k: v for k, v in schema.items() if k not in _ROOT_ONLY}
    out = inliner.node(root, 0, ())
    return (out if isinstance(out, dict) else {}), frozenset(inliner.dropped)


def resolve_pointer(root: Mapping[str, Any], ref: str) -> Any:
    """The sub-schema a local ``$ref`` (``#/$defs/Pet``, ``#/properties/a``) points at, or
    None for a reference into another document or to nothing."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else ():
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


class _Inliner:
    __slots__ = ("dropped", "root")

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.dropped: set[str] = set()

    def node(self, schema: Any, depth: int, stack: tuple[str, ...]) -> Any:
        if not isinstance(schema, Mapping):
            return schema  # true / false schemas
        if depth > MAX_DEPTH:
            self.dropped.add("nesting deeper than 32")
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            target = resolve_pointer(self.root, ref)
            if not isinstance(target, Mapping):
                self.dropped.add("$ref (unresolvable)")
                return self.node(siblings, depth, stack)
            if ref in stack:
                self.dropped.add("$ref (recursive)")
                kind = target.get("type")
                cut: dict[str, Any] = {"type": kind if isinstance(kind, str) else "object"}
                if isinstance(siblings.get("description"), str):
                    cut["description"] = siblings["description"]
                return cut
            return self.node({**target, **siblings}, depth, (*stack, ref))
        visit = partial(self.node, depth=depth + 1, stack=stack)
        return {
            key: map_subschemas(key, value, visit)
            for key, value in schema.items()
            if key not in _DEFINITIONS  # inlined where referenced
        }
