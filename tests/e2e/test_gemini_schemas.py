"""Gemini-form schemas reach OpenAI and Anthropic backends as standard JSON Schema.

The google-genai SDK plays Gemini CLI: its model router asks for ``responseJsonSchema`` built
with Gemini type names (``"OBJECT"``, ``"STRING"``), and its tools are declared with
``parametersJsonSchema`` in the same style. A real crosswire converts the call to an OpenAI
Chat or an Anthropic backend (a loopback upstream): the upstream must receive lower-case
JSON Schema types, and the app a valid answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import Reply, Upstream, genai_client

pytestmark = pytest.mark.e2e

ENV = {"K1": "sk-secret-upstream-key"}

ROUTER_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "reasoning": {"type": "STRING", "description": "Why this model."},
        "model_choice": {"type": "STRING", "enum": ["flash", "pro"]},
    },
    "required": ["reasoning", "model_choice"],
}
READ_FILE: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "absolute_path": {"type": "STRING", "description": "The file."},
        "offset": {"type": "INTEGER", "nullable": True},
        "ranges": {"type": "ARRAY", "items": {"type": "NUMBER"}},
    },
    "required": ["absolute_path"],
}
ANSWER = {"reasoning": "A simple lookup.", "model_choice": "flash"}
GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def config(upstream: Upstream, protocol: str, base: str) -> str:
    return f"""
backends:
  up:
    protocol: {protocol}
    base_url: {upstream.url}{base}
    keys:
      - {{name: k1, secret: "${{K1}}"}}
routes:
  - match: {{host: generativelanguage.googleapis.com}}
    backend: up
    model: upstream-model
"""


def types_in(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "type":
                yield from [value] if isinstance(value, str) else value
            elif key not in ("enum", "default", "examples", "const"):
                yield from types_in(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from types_in(item)


def assert_standard(schema: Any) -> None:
    found = set(types_in(schema))
    assert found, schema
    assert found <= JSON_TYPES, f"non-standard types {found - JSON_TYPES} in {schema}"
    assert not found & GEMINI_TYPES


def ask(proxy: Any, *, stream: bool = False) -> str:
    from google.genai import types

    client = genai_client(proxy)
    cfg = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=ROUTER_SCHEMA,
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="read_file",
                        description="Reads a file",
                        parameters_json_schema=READ_FILE,
                    )
                ]
            )
        ],
    )
    if not stream:
        out = client.models.generate_content(
            model="gemini-2.5-flash", contents="Which model?", config=cfg
        )
        return str(out.text)
    chunks = client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Which model?", config=cfg
    )
    return "".join(c.text or "" for c in chunks)


def openai_answer() -> Reply:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": json.dumps(ANSWER)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39},
    }
    return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())


def openai_stream() -> Reply:
    text = json.dumps(ANSWER)
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text[:20]}}]},
        {**head, "choices": [{"index": 0, "delta": {"content": text[20:]}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    return Reply(200, {"content-type": "text/event-stream"}, [*events, b"data: [DONE]\n\n"])


def anthropic_answer() -> Reply:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "upstream-model",
        "content": [{"type": "text", "text": json.dumps(ANSWER)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 9},
    }
    return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_app_schemas_to_openai_chat(start_proxy, upstream: Upstream, stream: bool) -> None:
    proxy = start_proxy(config(upstream, "openai-chat", "/v1"), env=ENV)
    upstream.queue(openai_stream() if stream else openai_answer())
    assert json.loads(ask(proxy, stream=stream)) == ANSWER
    (sent,) = upstream.requests
    body = sent.json()
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert_standard(response_format["json_schema"]["schema"])
    (tool,) = body["tools"]
    parameters = tool["function"]["parameters"]
    assert_standard(parameters)
    assert parameters["properties"]["offset"]["type"] == ["integer", "null"]


def test_gemini_app_schemas_to_anthropic(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream, "anthropic", ""), env=ENV)
    upstream.queue(anthropic_answer())
    assert json.loads(ask(proxy)) == ANSWER
    (sent,) = upstream.requests
    body = sent.json()
    (tool,) = body["tools"]
    assert_standard(tool["input_schema"])
    assert_standard(body["output_config"]["format"]["schema"])
