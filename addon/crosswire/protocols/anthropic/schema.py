"""A JSON schema from another protocol's app, made acceptable to Anthropic structured outputs.

https://platform.claude.com/docs/en/build-with-claude/structured-outputs (JSON Schema
limitations). Anthropic compiles the schema into a grammar and refuses what it cannot compile:
numeric, string-length, item-count and property-count constraints, and objects that allow
additional properties. The official SDK's ``transform_schema`` handles pydantic models the same
way: unsupported keywords move into the node's ``description`` (the model may still follow them)
and every object gets ``additionalProperties: false``. Everything else (``$ref``/``$defs``,
``anyOf``, ``enum``, ``const``, ``pattern``, supported ``format``s, ``default``) is kept as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keywords Anthropic's grammar compiler refuses.
UNSUPPORTED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "minProperties",
    "maxProperties",
)
STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


def for_anthropic(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The adapted schema and whether anything changed."""
    changed: list[bool] = []
    return _node(schema, changed), bool(changed)


def _node(node: Mapping[str, Any], changed: list[bool]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in node.items():
        if (
            key in UNSUPPORTED
            or (key == "minItems" and value not in (0, 1))
            or (key == "format" and node.get("type") == "string" and value not in STRING_FORMATS)
        ):
            moved[key] = value
        elif key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {
                k: _node(v, changed) if isinstance(v, Mapping) else v for k, v in value.items()
            }
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [_node(v, changed) if isinstance(v, Mapping) else v for v in value]
        elif key in ("items", "not") and isinstance(value, Mapping):
            out[key] = _node(value, changed)
        else:
            out[key] = value
    is_object = out.get("type") == "object" or (
        "properties" in out and "type" not in out and "anyOf" not in out
    )
    if is_object and out.get("additionalProperties") is not False:
        if "additionalProperties" in out:
            moved["additionalProperties"] = out["additionalProperties"]
        out["additionalProperties"] = False
        changed.append(True)
    if moved:
        note = "{" + ", ".join(f"{k}: {v}" for k, v in moved.items()) + "}"
        description = out.get("description")
        out["description"] = f"{description}\n\n{note}" if isinstance(description, str) else note
        changed.append(True)
    return out
