"""Schemas in every place a Gemini request carries them, in both spellings, both ways.

Decoding: whatever field and spelling a Gemini app used, the IR holds standard JSON Schema
(lower-case types, ``nullable`` as a ``null`` type), so OpenAI and Anthropic backends get
types they know. Encoding to Gemini: ``parametersJsonSchema`` / ``responseJsonSchema`` with
every local ``$ref`` inlined and no root ``$schema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import types

from crosswire.ir import Message, Report, Request, ResponseFormat, Text, Tool
from crosswire.protocols.anthropic import CODEC as ANTHROPIC
from crosswire.protocols.base import Target
from crosswire.protocols.gemini.schema_decode import to_standard
from crosswire.protocols.gemini.schema_encode import parameters_json_schema, response_json_schema
from crosswire.protocols.openai_chat import CODEC as OPENAI_CHAT

from .support import SCHEMAS, decode, encode_body

#: Gemini CLI's model router (classifier strategy): built with the SDK's ``Type`` enum, sent
#: as ``responseJsonSchema``.
ROUTER_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "reasoning": {
            "type": "STRING",
            "description": "A brief, step-by-step explanation for the model choice.",
        },
        "model_choice": {"type": "STRING", "enum": ["flash", "pro"]},
    },
    "required": ["reasoning", "model_choice"],
}

GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}


def types_in(schema: Any) -> Iterator[str]:
    """Every type name anywhere in a schema (``type`` strings and type lists)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "type" and isinstance(value, str):
                yield value
            elif key == "type" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            elif key not in ("enum", "default", "examples", "const"):
                yield from types_in(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from types_in(item)


def keys_in(schema: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key not in ("enum", "default", "examples", "const"):
                out.add(key)
                out |= keys_in(value)
    elif isinstance(schema, list):
        for item in schema:
            out |= keys_in(item)
    return out


HELLO = (Message(role="user", parts=(Text(text="q"),)),)


def user_turn() -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": "q"}]}


# ---- decoding: every field, both spellings -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("generationConfig", "responseJsonSchema"),
        ("generation_config", "response_json_schema"),
        ("generationConfig", "responseSchema"),
        ("generation_config", "response_schema"),
    ],
)
def test_router_schema_reaches_the_ir_as_standard_json_schema(config: str, key: str) -> None:
    """Gemini CLI's router sends Gemini type names in ``responseJsonSchema``."""
    body = {
        "contents": [user_turn()],
        config: {key: ROUTER_SCHEMA, "responseMimeType": "application/json"},
    }
    fmt = decode(body).response_format
    assert fmt is not None and fmt.type == "json_schema"
    assert fmt.schema == {
        "type": "object",
        "properties": {
            "reasoning": {
                "type": "string",
                "description": "A brief, step-by-step explanation for the model choice.",
            },
            "model_choice": {"type": "string", "enum": ["flash", "pro"]},
        },
        "required": ["reasoning", "model_choice"],
    }


@pytest.mark.parametrize(
    ("tools_key", "decl_key", "field"),
    [
        ("functionDeclarations", "parametersJsonSchema", "parametersJsonSchema"),
        ("function_declarations", "parameters_json_schema", "parametersJsonSchema"),
        ("functionDeclarations", "parameters", "parameters"),
        ("function_declarations", "parameters", "parameters"),
    ],
)
def test_declaration_schemas_in_both_spellings(tools_key: str, decl_key: str, field: str) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "path": {"type": "STRING", "description": "file"},
            "limit": {"type": "INTEGER", "nullable": True},
        },
        "required": ["path"],
        "propertyOrdering": ["path", "limit"],
    }
    report = Report()
    body = {
        "contents": [user_turn()],
        "tools": [{tools_key: [{"name": "read_file", decl_key: schema}]}],
    }
    (tool,) = decode(body, report=report).tools
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "file"},
            "limit": {"type": ["integer", "null"]},
        },
        "required": ["path"],
    }
    assert tool.native["gemini"][field] == schema  # verbatim for a Gemini backend
    assert f"tools.functionDeclarations.{field} propertyOrdering" in report.dropped_fields


def test_subset_snake_case_keywords_and_defs() -> None:
    """The subset fields are the ``Schema`` message: snake_case keywords and ``defs``/``ref``
    (pointing at ``#/defs/…``) are its proto spelling."""
    subset = {
        "type": "OBJECT",
        "properties": {
            "pets": {"type": "ARRAY", "items": {"ref": "#/defs/Pet"}, "max_items": 3},
            "either": {"any_of": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True},
            "color": {"type": "STRING", "enum": ["red", "blue"], "nullable": True},
            "when": {"ref": "#/defs/When", "nullable": True},
        },
        "defs": {
            "Pet": {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}},
            "When": {"type": "STRING", "format": "date-time"},
        },
        "property_ordering": ["pets"],
    }
    out, dropped = to_standard(subset, subset=True)
    assert out == {
        "type": "object",
        "properties": {
            "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}, "maxItems": 3},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "color": {"type": ["string", "null"], "enum": ["red", "blue", None]},
            "when": {"anyOf": [{"$ref": "#/$defs/When"}, {"type": "null"}]},
        },
        "$defs": {
            "Pet": {"type": "object", "properties": {"name": {"type": "string"}}},
            "When": {"type": "string", "format": "date-time"},
        },
    }
    assert dropped == {"propertyOrdering"}


def test_json_schema_fields_keep_their_keywords_and_user_names() -> None:
    """In the JSON Schema fields, keywords are not renamed and property names, enum values
    and defaults are user data: only type names change."""
    schema = {
        "type": "object",
        "properties": {
            "snake_name": {"type": "STRING", "default": "OBJECT"},
            "map": {"type": "OBJECT", "additionalProperties": {"type": "NUMBER"}},
            "tuple": {"type": "array", "prefixItems": [{"type": "BOOLEAN"}]},
            "kind": {"type": ["STRING", "NULL"], "enum": ["OBJECT", None]},
        },
    }
    out, dropped = to_standard(schema, subset=False)
    assert out == {
        "type": "object",
        "properties": {
            "snake_name": {"type": "string", "default": "OBJECT"},
            "map": {"type": "object", "additionalProperties": {"type": "number"}},
            "tuple": {"type": "array", "prefixItems": [{"type": "boolean"}]},
            "kind": {"type": ["string", "null"], "enum": ["OBJECT", None]},
        },
    }
    assert not dropped


@pytest.mark.parametrize("key", ["response", "responseJsonSchema", "response_json_schema"])
def test_function_result_schemas_are_kept_for_gemini_and_noted(key: str) -> None:
    report = Report()
    decl = {"name": "f", "parametersJsonSchema": {"type": "object"}, key: {"type": "STRING"}}
    body = {"contents": [user_turn()], "tools": [{"functionDeclarations": [decl]}]}
    request = decode(body, report=report)
    field = "response" if key == "response" else "responseJsonSchema"
    assert request.tools[0].native["gemini"][field] == {"type": "STRING"}
    assert f"tools.functionDeclarations.{field}" in report.dropped_fields
    out = encode_body(request)["tools"][0]["functionDeclarations"][0]
    assert out[field] == {"type": "STRING"}


# ---- to other backends ---------------------------------------------------------------------


def gemini_cli_request() -> dict[str, Any]:
    return {
        "contents": [user_turn()],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": ROUTER_SCHEMA,
        },
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "read_file",
                        "parametersJsonSchema": {
                            "type": "OBJECT",
                            "properties": {
                                "path": {"type": "STRING"},
                                "offset": {"type": "NUMBER", "nullable": True},
                            },
                            "required": ["path"],
                        },
                    }
                ]
            }
        ],
    }


def upstream_body(codec: Any, protocol: str, model: str) -> dict[str, Any]:
    request = decode(gemini_cli_request())
    call = codec.encode_request(request, Target(protocol=protocol, model=model), Report())
    body: dict[str, Any] = json.loads(call.body)
    return body


def test_openai_chat_backend_gets_standard_types() -> None:
    body = upstream_body(OPENAI_CHAT, "openai-chat", "gpt-5")
    schema = body["response_format"]["json_schema"]["schema"]
    params = body["tools"][0]["function"]["parameters"]
    for tree in (schema, params):
        assert not set(types_in(tree)) & GEMINI_TYPES, tree
    assert params["properties"]["offset"] == {"type": ["number", "null"]}


def test_anthropic_backend_gets_standard_types() -> None:
    body = upstream_body(ANTHROPIC, "anthropic", "claude-sonnet-4-5")
    params = body["tools"][0]["input_schema"]
    assert not set(types_in(params)) & GEMINI_TYPES
    assert not set(types_in(body["output_config"]["format"]["schema"])) & GEMINI_TYPES


# ---- encoding for a Gemini backend ----------------------------------------------------------


AGENT_SCHEMAS = sorted(p.stem for p in SCHEMAS.glob("*.json"))


@pytest.mark.parametrize("name", AGENT_SCHEMAS)
def test_agent_schemas_become_parameters_json_schema(name: str) -> None:
    """Claude Code, MCP and pydantic schemas: no ``$schema``, no ``$ref``/``$defs`` left
    (Gemini refuses ``$ref`` next to other keywords and unresolvable references), the rest
    kept; the SDK's own type accepts the declaration."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    out, _dropped = parameters_json_schema(schema)
    assert out is not None and out["type"] == "object"
    assert not keys_in(out) & {"$schema", "$id", "$ref", "$defs", "definitions"}
    assert set(out["properties"]) == set(schema["properties"])
    types.FunctionDeclaration(name=name, parameters_json_schema=out)


def test_pydantic_refs_are_inlined_with_their_siblings() -> None:
    schema = json.loads((SCHEMAS / "pydantic_create_user.json").read_text())
    out, dropped = parameters_json_schema(schema)
    assert out is not None
    assert out["properties"]["role"] == {
        "enum": ["admin", "user"],
        "title": "Role",
        "type": "string",
        "default": "user",
    }
    assert out["properties"]["previous"]["anyOf"][0]["items"]["properties"]["street"] == {
        "title": "Street",
        "type": "string",
    }
    assert out["properties"]["age"]["exclusiveMinimum"] == 0  # JSON Schema keeps its bounds
    assert not dropped


def test_recursive_refs_are_cut() -> None:
    schema = json.loads((SCHEMAS / "mcp_issue_tracker.json").read_text())
    out, dropped = parameters_json_schema(schema)
    assert out is not None
    children = out["properties"]["tree"]["properties"]["children"]
    assert children == {"type": "array", "items": {"type": "object"}}
    assert "$ref (recursive)" in dropped


def test_response_format_to_gemini_uses_response_json_schema() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "integer", "enum": [1, 2]}},
    }
    request = Request(
        model="gemini-2.5-flash",
        messages=HELLO,
        response_format=ResponseFormat(type="json_schema", schema=schema),
    )
    assert encode_body(request)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer", "enum": [1, 2]}},
        },
    }


def test_response_schema_need_not_be_an_object() -> None:
    out, dropped = response_json_schema({"type": "array", "items": {"type": "string"}})
    assert out == {"type": "array", "items": {"type": "string"}}
    assert not dropped


def test_tool_without_object_root_has_no_parameters() -> None:
    assert parameters_json_schema({"type": "string"})[0] is None
    assert parameters_json_schema({"type": "object", "additionalProperties": False})[0] is None
    mapping_tool = {"type": "object", "additionalProperties": {"type": "string"}}
    assert parameters_json_schema(mapping_tool)[0] == mapping_tool


def test_gemini_cli_request_round_trips_to_a_gemini_backend() -> None:
    """Through the IR (failover to another Gemini backend), a Gemini client's declaration
    goes back in the field and form it chose; the response schema as JSON Schema."""
    request = decode(gemini_cli_request())
    body = encode_body(request)
    decl = body["tools"][0]["functionDeclarations"][0]
    assert (
        decl["parametersJsonSchema"]
        == gemini_cli_request()["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]
    )
    assert body["generationConfig"]["responseJsonSchema"]["type"] == "object"


def test_other_apps_tools_reach_gemini_as_json_schema() -> None:
    tool = Tool(
        name="TodoWrite",
        parameters=json.loads((SCHEMAS / "claude_code_todowrite.json").read_text()),
    )
    body = encode_body(Request(model="gemini-3-pro-preview", messages=HELLO, tools=(tool,)))
    decl = body["tools"][0]["functionDeclarations"][0]
    assert "parameters" not in decl
    assert decl["parametersJsonSchema"]["type"] == "object"
