"""Codex 0.171's tools on any backend.

Its default model is a "responses lite" model: the request has no ``tools``; the first input
item is ``{"type":"additional_tools","role":"developer","tools":[…]}`` holding the
``functions`` namespace with a free-form (``custom``) tool ``exec`` (JavaScript, constrained by
a Lark grammar) and a function ``wait``. The model calls ``exec`` with a ``custom_tool_call``
(``namespace: "functions"``, ``input`` the source text), Codex answers with a
``custom_tool_call_output``. The fixture below follows Codex's request builder (the lite
branch: empty ``instructions``, the tools item and a developer message first, no
``parallel_tool_calls``, ``reasoning.context``), with the tool texts shortened.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.contract.sdk_types import answer_violations, request_violations
from tests.unit.protocols.openai_responses.support import decode, encode, sse_events

GRAMMAR = (
    "start: pragma_source | plain_source\n"
    "pragma_source: PRAGMA_LINE NEWLINE js_source\n"
    "plain_source: JS_SOURCE\n"
    "js_source: JS_SOURCE\n"
    "PRAGMA_LINE: /[ \\t]*\\/\\/ @exec:[^\\r\\n]*/\n"
    "NEWLINE: /\\r?\\n/\n"
    'JS_SOURCE: /(?:\\s*)(?:[^\\s{\\"`]|`[^`]|``[^`])[\\s\\S]*/\n'
)
EXEC = {
    "type": "custom",
    "name": "exec",
    "description": (
        "Run JavaScript in a persistent cell. Nested tools are on `tools`, e.g. "
        "`await tools.exec_command({cmd})`; print results with `text(value)`."
    ),
    "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
}
WAIT = {
    "type": "function",
    "name": "wait",
    "description": "Waits on a yielded `exec` cell and returns new output or completion.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "cell_id": {"type": "string", "description": "Identifier of the running exec cell."},
            "yield_time_ms": {"type": "number"},
            "terminate": {"type": "boolean"},
        },
        "required": ["cell_id"],
        "additionalProperties": False,
    },
}
TOOLS_ITEM = {
    "type": "additional_tools",
    "id": "at_5b0f3c1e9d2a4f67",
    "role": "developer",
    "tools": [{"type": "namespace", "name": "functions", "description": "", "tools": [EXEC, WAIT]}],
}
SOURCE = "const r = await tools.exec_command({cmd: 'ls'});\ntext(r.output);"
CODEX_TURN: dict[str, Any] = {
    "model": "gpt-6.2-sol",
    "instructions": "",
    "input": [
        TOOLS_ITEM,
        {
            "type": "message",
            "id": "msg_7e21c0d4a8b94f10",
            "role": "developer",
            "content": [{"type": "input_text", "text": "You are Codex, a coding agent."}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "<environment_context>cwd=/w"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto", "context": "all_turns"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "019b2c1e-5d4f-7a10-9c3e-2f6a8b0d1e47",
    "text": {"verbosity": "low"},
}
#: The next turn: the model's exec call and Codex's answer to it.
CALL_ITEMS = [
    {
        "type": "custom_tool_call",
        "id": "ctc_0a1b2c",
        "call_id": "call_Xy12",
        "namespace": "functions",
        "name": "exec",
        "input": SOURCE,
    },
    {"type": "custom_tool_call_output", "call_id": "call_Xy12", "output": "README.md\nsrc\n"},
]
SECOND_TURN = {**CODEX_TURN, "input": [*CODEX_TURN["input"], *CALL_ITEMS]}


def _exchange(backend: str) -> Exchange:
    ex = Exchange(
        call=ClientCall(protocol="openai-responses", endpoint="generate"),
        client=codec("openai-responses"),
        backend=codec(backend),  # type: ignore[arg-type]
        target=Target(protocol=backend, model="backend-model"),  # type: ignore[arg-type]
    )
    ex.decode(json.dumps(SECOND_TURN).encode())
    return ex


def test_the_tools_item_becomes_ir_tools_and_leaves_no_item_behind() -> None:
    report = ir.Report()
    req = decode(SECOND_TURN, report)
    exec_tool, wait_tool = req.tools
    assert exec_tool.name == "exec" and exec_tool.freeform
    assert exec_tool.parameters is not None
    schema = exec_tool.parameters["properties"]["input"]
    assert schema["type"] == "string" and GRAMMAR in schema["description"]
    assert wait_tool.name == "wait" and not wait_tool.freeform
    assert wait_tool.parameters == WAIT["parameters"]
    assert req.native_tools == ()
    assert [m.role for m in req.messages] == ["developer", "user", "user", "assistant", "tool"]
    call = req.messages[3].parts[0]
    assert isinstance(call, ir.ToolCall)
    assert (call.name, json.loads(call.arguments)) == ("exec", {"input": SOURCE})
    assert report.dropped_fields == []


def test_a_responses_backend_gets_the_item_back_in_place() -> None:
    body = encode(decode(SECOND_TURN))
    assert body["input"][0] == TOOLS_ITEM
    assert "tools" not in body
    assert body["input"][1] == CODEX_TURN["input"][1]
    assert body["input"][-2:] == CALL_ITEMS
    violations = request_violations(
        "openai-responses", path="/responses", body=json.dumps(body).encode(), stream=True
    )
    # Codex's own developer message carries an id openai 3.54 does not type on input
    # messages; it goes up as Codex sent it (the API takes it).
    assert violations == ["$.input[1].id: unknown field (not in EasyInputMessageParam)"]


@pytest.mark.parametrize("backend", ["anthropic", "gemini", "openai-chat"])
def test_other_backends_get_exec_and_wait_as_functions(backend: str) -> None:
    ex = _exchange(backend)
    up = ex.encode()
    body = json.loads(up.body)
    assert (
        request_violations(
            backend,
            path=up.path,
            body=up.body,
            stream=up.stream,
            headers=up.headers,
            query=up.query,
        )
        == []
    )
    text = json.dumps(body)
    assert '"exec"' in text and '"wait"' in text and SOURCE[:20] in text
    assert not any("additional_tools" in n or "tool " in n for n in ex.report.dropped_fields)


def _anthropic_stream(name: str, arguments: str) -> bytes:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_01", "name": name, "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": arguments[i : i + 9]},
            }
            for i in range(0, len(arguments), 9)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        },
        {"type": "message_stop"},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_an_anthropic_exec_call_streams_back_as_a_custom_tool_call() -> None:
    ex = _exchange("anthropic")
    ex.encode()
    converter = ex.stream()
    raw = _anthropic_stream("exec", json.dumps({"input": SOURCE}))
    out = converter.feed(raw) + converter.close()
    assert answer_violations("openai-responses", out, stream=True) == []
    events = sse_events(out)
    kinds = [e["type"] for _, e in events]
    assert "response.function_call_arguments.delta" not in kinds
    assert kinds.count("response.custom_tool_call_input.delta") == 1
    done = next(e for _, e in events if e["type"] == "response.output_item.done")
    item = done["item"]
    assert {k: item[k] for k in ("type", "call_id", "namespace", "name", "input")} == {
        "type": "custom_tool_call",
        "call_id": "toolu_01",
        "namespace": "functions",
        "name": "exec",
        "input": SOURCE,
    }
    assert item["id"].startswith("ctc_")
    completed = events[-1][1]["response"]
    assert completed["output"] == [item]


def test_a_wait_call_stays_a_function_call_in_the_functions_namespace() -> None:
    ex = _exchange("anthropic")
    ex.encode()
    converter = ex.stream()
    out = converter.feed(_anthropic_stream("wait", '{"cell_id": "7"}')) + converter.close()
    assert answer_violations("openai-responses", out, stream=True) == []
    item = next(e for _, e in sse_events(out) if e["type"] == "response.output_item.done")["item"]
    assert (item["type"], item["namespace"], item["name"]) == ("function_call", "functions", "wait")
    assert json.loads(item["arguments"]) == {"cell_id": "7"}


WHOLE_ANSWERS = {
    "gemini": {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "exec", "args": {"input": SOURCE}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9},
        "modelVersion": "gemini-x",
    },
    "openai-chat": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "exec",
                                "arguments": json.dumps({"input": SOURCE}),
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    },
}


@pytest.mark.parametrize("backend", sorted(WHOLE_ANSWERS))
def test_whole_answers_give_the_app_a_custom_tool_call(backend: str) -> None:
    ex = _exchange(backend)
    ex.request = ir.Request(**{**_fields(ex.request), "stream": False})
    ex.encode()
    out = ex.response(json.dumps(WHOLE_ANSWERS[backend]).encode())
    assert answer_violations("openai-responses", out, stream=False) == []
    (item,) = json.loads(out)["output"]
    assert (item["type"], item["namespace"], item["name"], item["input"]) == (
        "custom_tool_call",
        "functions",
        "exec",
        SOURCE,
    )


def _fields(request: ir.Request | None) -> dict[str, Any]:
    assert request is not None
    return {f: getattr(request, f) for f in request.__dataclass_fields__}


def test_a_model_that_ignores_the_input_schema_still_gives_text() -> None:
    """Arguments that are not ``{"input": text}`` are passed on as the text itself."""
    ex = _exchange("anthropic")
    ex.encode()
    converter = ex.stream()
    out = converter.feed(_anthropic_stream("exec", '{"code": "text(1)"}')) + converter.close()
    item = next(e for _, e in sse_events(out) if e["type"] == "response.output_item.done")["item"]
    assert item["input"] == '{"code": "text(1)"}'
