"""The JSON Schema → Gemini subset rewrite, on real agent tool schemas (edge cases 56–58)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from crosswire.protocols.gemini.schema import to_gemini, to_gemini_node
from crosswire.protocols.gemini.schema_decode import to_standard

from .support import SCHEMAS


def from_gemini(schema: Any) -> Any:
    """A Gemini OpenAPI-subset schema as standard JSON Schema, as the request decoder reads it."""
    return to_standard(schema, subset=True)[0]


AGENT_SCHEMAS = sorted(p.stem for p in SCHEMAS.glob("*.json"))

_ALLOWED = {
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "anyOf",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
}
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


def assert_gemini_node(node: dict[str, Any], where: str = "$") -> None:
    """Every rule Gemini enforces, checked on every node."""
    assert set(node) <= _ALLOWED, f"{where}: {set(node) - _ALLOWED}"
    if "anyOf" in node:
        assert set(node) == {"anyOf"}, f"{where}: anyOf must be alone"
        for i, variant in enumerate(node["anyOf"]):
            assert_gemini_node(variant, f"{where}.anyOf[{i}]")
        return
    assert node.get("type") in _TYPES, f"{where}: type {node.get('type')}"
    if node["type"] == "ARRAY":
        assert "items" in node, f"{where}: array without items"
        assert_gemini_node(node["items"], f"{where}.items")
    if "properties" in node:
        assert node["type"] == "OBJECT"
        assert node["properties"], f"{where}: empty properties"
        for name, sub in node["properties"].items():
            assert_gemini_node(sub, f"{where}.{name}")
    if "required" in node:
        assert set(node["required"]) <= set(node.get("properties", {})), where
    if "enum" in node:
        assert node["type"] == "STRING" and all(isinstance(v, str) for v in node["enum"])


@pytest.mark.parametrize("name", AGENT_SCHEMAS)
def test_agent_schema_becomes_a_valid_gemini_schema(name: str) -> None:
    """Edge cases 56–57: Claude Code, MCP and pydantic schemas come out in Gemini's subset and
    the google-genai Schema type accepts them."""
    out, _dropped = to_gemini(load_schema(name))
    assert out is not None
    assert out["type"] == "OBJECT"
    assert_gemini_node(out)
    types.Schema.model_validate(out)


def test_claude_code_schema_drops_dialect_and_additional_properties() -> None:
    out, dropped = to_gemini(load_schema("claude_code_bash"))
    assert out == {
        "type": "OBJECT",
        "properties": {
            "command": {"type": "STRING", "description": "The command to execute"},
            "timeout": {
                "type": "NUMBER",
                "description": "Optional timeout in milliseconds (max 600000)",
            },
            "description": {
                "type": "STRING",
                "description": "Clear, concise description of what this command does in 5-10 words",
            },
            "run_in_background": {
                "type": "BOOLEAN",
                "description": "Set to true to run this command in the background.",
            },
        },
        "required": ["command"],
    }
    assert dropped == {"$schema", "additionalProperties"}


def test_defaults_are_dropped_and_string_enums_kept() -> None:
    edit, dropped = to_gemini(load_schema("claude_code_edit"))
    assert edit is not None
    assert edit["properties"]["replace_all"] == {
        "type": "BOOLEAN",
        "description": "Replace all occurences of old_string (default false)",
    }
    assert "default" in dropped
    todo, _ = to_gemini(load_schema("claude_code_todowrite"))
    assert todo is not None
    item = todo["properties"]["todos"]["items"]
    assert item["properties"]["status"] == {
        "type": "STRING",
        "enum": ["pending", "in_progress", "completed"],
    }
    assert item["properties"]["content"] == {"type": "STRING", "minLength": 1}


def test_mcp_refs_are_inlined_and_recursion_is_cut() -> None:
    """Edge case 57: dropping ``$ref`` must not lose ``items``; a recursive definition is cut
    after one expansion."""
    out, dropped = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    props = out["properties"]
    assert props["labels"]["items"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "color": {"type": "STRING"}},
        "required": ["name"],
    }
    tree = props["tree"]
    assert tree["properties"]["value"] == {"type": "STRING"}
    assert tree["properties"]["children"] == {"type": "ARRAY", "items": {"type": "OBJECT"}}
    assert "$ref (recursive)" in dropped
    assert {
        "propertyNames",
        "patternProperties",
        "additionalProperties",
        "$schema",
        "$id",
    } <= dropped


def test_nullable_unions_and_type_lists_become_nullable() -> None:
    """Edge case 57: ``["x","null"]`` and ``anyOf[x, null]`` are ``x`` + ``nullable``."""
    out, _ = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    assert out["properties"]["assignee"] == {"type": "STRING", "nullable": True}
    assert out["properties"]["tags"] == {
        "type": "ARRAY",
        "nullable": True,
        "items": {"type": "STRING"},
    }


def test_real_unions_stay_anyof_alone_with_the_description_pushed_down() -> None:
    out, _ = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    assert out["properties"]["priority"] == {
        "anyOf": [
            {"type": "INTEGER", "description": "Priority as a number or a word"},
            {
                "type": "STRING",
                "description": "Priority as a number or a word",
                "enum": ["low", "high"],
            },
        ]
    }


def test_const_formats_and_numeric_enums() -> None:
    out, dropped = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    props = out["properties"]
    assert props["kind"] == {"type": "STRING", "enum": ["issue"]}
    assert props["url"] == {"type": "STRING"}
    assert props["due"] == {"type": "STRING", "format": "date-time"}
    assert props["size"] == {"type": "INTEGER", "description": "Allowed values: 1, 2, 3"}
    assert {"format uri", "enum (non-string)", "exclusiveMinimum"} <= dropped


def test_constraint_only_anyof_is_dropped_and_required_filtered() -> None:
    out, dropped = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    assert out["properties"]["exclusive"] == {"type": "STRING"}
    assert out["required"] == ["labels"]
    assert "anyOf" in dropped


def test_object_without_properties_has_no_properties_key() -> None:
    """Edge case 58: ``properties: {}`` on an OBJECT is rejected; maps become bare objects."""
    out, _ = to_gemini(load_schema("mcp_issue_tracker"))
    assert out is not None
    assert out["properties"]["metadata"] == {"type": "OBJECT"}


def test_pydantic_defs_titles_and_optional_fields() -> None:
    out, dropped = to_gemini(load_schema("pydantic_create_user"))
    assert out is not None
    props = out["properties"]
    assert props["address"] == {
        "type": "OBJECT",
        "properties": {
            "street": {"type": "STRING"},
            "city": {"type": "STRING"},
            "zip": {"type": "STRING", "nullable": True},
        },
        "required": ["street", "city"],
    }
    assert props["role"] == {"type": "STRING", "enum": ["admin", "user"]}
    assert props["previous"]["type"] == "ARRAY"
    assert props["previous"]["nullable"] is True
    assert props["previous"]["items"]["properties"]["city"] == {"type": "STRING"}
    assert props["nickname"] == {
        "type": "STRING",
        "description": "Optional nickname",
        "nullable": True,
    }
    assert {"title", "default", "exclusiveMinimum"} <= dropped


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {},
        {"type": "object"},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {}, "additionalProperties": False, "required": []},
    ],
)
def test_tools_without_parameters_get_none(schema: dict[str, Any] | None) -> None:
    """Edge case 58: no parameters → the declaration has no ``parameters``."""
    assert to_gemini(schema)[0] is None


def test_root_is_forced_to_object() -> None:
    out, _ = to_gemini({"properties": {"q": {"type": "string"}}})
    assert out == {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}


def test_array_without_items_gets_string_items_and_untyped_nodes_get_a_type() -> None:
    """Edge case 57: an array without ``items`` is rejected; so is TYPE_UNSPECIFIED."""
    out, _ = to_gemini(
        {
            "type": "object",
            "properties": {
                "list": {"type": "array"},
                "anything": {"description": "any value"},
                "nested": {"properties": {"x": {"type": "integer", "format": "int64"}}},
            },
        }
    )
    assert out is not None
    assert out["properties"]["list"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert out["properties"]["anything"] == {"type": "STRING", "description": "any value"}
    assert out["properties"]["nested"] == {
        "type": "OBJECT",
        "properties": {"x": {"type": "INTEGER", "format": "int64"}},
    }


def test_all_of_is_merged_and_ref_siblings_win() -> None:
    out, _ = to_gemini(
        {
            "type": "object",
            "definitions": {
                "Base": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "required": ["a"],
                }
            },
            "properties": {
                "merged": {
                    "allOf": [
                        {"$ref": "#/definitions/Base"},
                        {"properties": {"b": {"type": "number"}}},
                    ],
                    "description": "merged object",
                }
            },
        }
    )
    assert out is not None
    assert out["properties"]["merged"] == {
        "type": "OBJECT",
        "description": "merged object",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "NUMBER"}},
        "required": ["a"],
    }


def test_self_reference_to_root_is_bounded() -> None:
    out, dropped = to_gemini(
        {"type": "object", "properties": {"child": {"$ref": "#"}, "name": {"type": "string"}}}
    )
    assert out is not None
    assert out["properties"]["child"]["properties"]["child"] == {"type": "OBJECT"}
    assert "$ref (recursive)" in dropped


def test_unresolvable_ref_does_not_crash() -> None:
    out, dropped = to_gemini({"type": "object", "properties": {"x": {"$ref": "#/$defs/Nope"}}})
    assert out == {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}}
    assert "$ref" in dropped


def test_deep_nesting_is_bounded() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(60):
        schema = {"type": "object", "properties": {"x": schema}}
    out, dropped = to_gemini(schema)
    assert out is not None
    assert "nesting deeper than 32" in dropped


def test_response_schema_node_need_not_be_an_object() -> None:
    out, _ = to_gemini_node({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}})
    assert out == {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a", "b"]}}


def test_from_gemini_produces_standard_json_schema() -> None:
    gemini = {
        "type": "OBJECT",
        "properties": {
            "when": {"type": "STRING", "format": "date-time", "nullable": True},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "list": {"type": "ARRAY", "items": {"type": "INTEGER"}, "max_items": 3},
            "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "nullable": True},
        },
        "required": ["kind"],
        "propertyOrdering": ["when", "kind", "list"],
        "example": {"kind": "a"},
    }
    assert from_gemini(gemini) == {
        "type": "object",
        "properties": {
            "when": {"type": ["string", "null"], "format": "date-time"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "list": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
            "either": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
        },
        "required": ["kind"],
        "examples": [{"kind": "a"}],
    }


def test_gemini_subset_round_trips_through_json_schema() -> None:
    original = {
        "type": "OBJECT",
        "properties": {
            "latitude": {"type": "STRING", "description": "Latitude"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "nullable": True},
        },
        "required": ["latitude"],
    }
    out, dropped = to_gemini(from_gemini(original))
    assert out == original
    assert not dropped
