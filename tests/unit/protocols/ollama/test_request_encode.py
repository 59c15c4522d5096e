"""IR → Ollama request bodies; every body is checked against ``ollama.ChatRequest`` /
``GenerateRequest`` by ``support.encode``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.protocols.ollama.support import CHAT, TARGET, C, decode, encode

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PDF = base64.b64encode(b"%PDF-1.7 hello").decode()


def _request(*messages: ir.Message, **fields: Any) -> ir.Request:
    return ir.Request(model="app", messages=messages or (_user("hi"),), **fields)


def _user(text: str, *parts: ir.Part) -> ir.Message:
    return ir.Message(role="user", parts=(ir.Text(text=text), *parts))


def test_an_ollama_chat_request_comes_back_unchanged() -> None:
    """Same-protocol passthrough: every current field survives decode → encode."""
    body: dict[str, Any] = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "look", "images": [PNG]},
            {
                "role": "assistant",
                "content": "",
                "thinking": "need the weather",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "function": {"index": 0, "name": "weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            {"role": "tool", "tool_name": "weather", "tool_call_id": "call_1", "content": "sun"},
            {"role": "assistant", "content": "Sunny."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather of a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "format": {"type": "object"},
        "options": {"num_predict": 50, "temperature": 0.2, "stop": ["x"], "num_ctx": 4096},
        "stream": False,
        "keep_alive": "10m",
        "think": "high",
        "logprobs": True,
        "top_logprobs": 2,
    }
    out = json.loads(
        C.encode_request(decode(body), Target(protocol="ollama", model="m"), ir.Report()).body
    )
    assert out == body


def test_an_ollama_generate_request_comes_back_unchanged() -> None:
    body = {
        "model": "m",
        "prompt": "def f(",
        "suffix": ")",
        "system": "code",
        "template": "{{ .Prompt }}",
        "context": [1, 2],
        "raw": True,
        "images": [PNG],
        "think": False,
        "format": "json",
        "options": {"seed": 3},
        "stream": True,
        "keep_alive": 0,
        "width": 64,
        "height": 64,
        "steps": 4,
    }
    up = C.encode_request(decode(body, generate=True), TARGET, ir.Report())
    assert up.path == "/api/generate" and json.loads(up.body) == body


@pytest.mark.parametrize(
    ("reasoning", "think", "note"),
    [
        (ir.ReasoningConfig(effort="low"), "low", None),
        (ir.ReasoningConfig(effort="high"), "high", None),
        (ir.ReasoningConfig(effort="minimal"), "low", "clamped"),
        (ir.ReasoningConfig(effort="xhigh"), "high", "clamped"),
        (ir.ReasoningConfig(effort="none"), False, None),
        (ir.ReasoningConfig(enabled=False), False, None),
        (ir.ReasoningConfig(enabled=True), True, None),
        (ir.ReasoningConfig(enabled=True, budget_tokens=2048), True, "dropped"),
        (ir.ReasoningConfig(adaptive=True), True, None),
    ],
)
def test_reasoning_becomes_think(
    reasoning: ir.ReasoningConfig, think: Any, note: str | None
) -> None:
    report = ir.Report()
    body = encode(_request(reasoning=reasoning), report)
    assert body["think"] == think
    assert [n.action for n in report.notes] == ([note] if note else [])


def test_response_formats_and_sampling_options() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    req = _request(
        response_format=ir.ResponseFormat(type="json_schema", schema=schema, name="x"),
        params=ir.Params(
            max_tokens=9000,
            temperature=0.5,
            top_p=0.8,
            top_k=20,
            seed=1,
            stop=("\n",),
            presence_penalty=0.1,
            frequency_penalty=0.2,
        ),
    )
    report = ir.Report()
    body = encode(req, report, Target(protocol="ollama", model="m"))
    assert body["format"] == schema
    assert body["options"] == {
        "num_predict": 9000,
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 20,
        "seed": 1,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "stop": ["\n"],
    }
    assert report.notes == []
    assert (
        encode(_request(response_format=ir.ResponseFormat(type="json_object")))["format"] == "json"
    )
    assert "format" not in encode(_request(response_format=ir.ResponseFormat(type="text")))


def test_what_ollama_cannot_express_is_dropped_with_a_note() -> None:
    report = ir.Report()
    encode(
        _request(
            params=ir.Params(min_tokens=5),
            tool_choice=ir.ToolChoice(mode="required"),
            parallel_tool_calls=False,
            native_tools=(ir.NativeTool(origin="anthropic", data={"type": "web_search_20250305"}),),
            user="u1",
        ),
        report,
    )
    assert set(report.dropped_fields) == {
        "min_tokens",
        "tool_choice",
        "parallel_tool_calls",
        "tool web_search_20250305",
        "user",
    }
    with pytest.raises(UnsupportedFeature, match="'n'"):
        encode(_request(params=ir.Params(n=2)))


def test_calls_from_other_protocols_go_up_without_ids_and_results_get_their_name() -> None:
    """Ollama's types have no call id: other protocols' ids stay local (edge 30)."""
    req = _request(
        _user("q"),
        ir.Message(
            role="assistant",
            parts=(
                ir.Reasoning(text="think", signature="sig", origin="anthropic"),
                ir.ToolCall(id="toolu_1", name="f", arguments='{"a":[1,2]}'),
                ir.ToolCall(id="toolu_2", name="g", arguments=""),
            ),
        ),
        ir.Message(
            role="tool",
            parts=(
                ir.ToolResult(call_id="toolu_1", content=(ir.Text(text="r1"),)),
                ir.ToolResult(
                    call_id="toolu_2", name="g", content=(ir.Text(text="bad"),), is_error=True
                ),
            ),
        ),
    )
    report = ir.Report()
    body = encode(req, report)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "",
        "thinking": "think",
        "tool_calls": [
            {"function": {"name": "f", "arguments": {"a": [1, 2]}}},
            {"function": {"name": "g", "arguments": {}}},
        ],
    }
    assert body["messages"][2:] == [
        {"role": "tool", "content": "r1", "tool_name": "f"},
        {"role": "tool", "content": "Error: bad", "tool_name": "g"},
    ]
    assert report.dropped_fields == ["reasoning signature"]


def test_images_travel_as_base64_and_tool_result_images_move_to_a_user_turn() -> None:
    data_url = f"data:image/png;base64,{PNG}"
    req = _request(
        _user("see", ir.File(kind="image", url=data_url)),
        ir.Message(role="assistant", parts=(ir.ToolCall(id="c", name="shot", arguments="{}"),)),
        ir.Message(
            role="tool",
            parts=(
                ir.ToolResult(
                    call_id="c",
                    name="shot",
                    content=(ir.File(kind="image", data=PNG, media_type="image/png"),),
                ),
            ),
        ),
    )
    report = ir.Report()
    messages = encode(req, report)["messages"]
    assert messages[0]["images"] == [PNG]
    assert messages[2:] == [
        {"role": "tool", "content": "", "tool_name": "shot"},
        {"role": "user", "content": "", "images": [PNG]},
    ]
    assert [n.action for n in report.notes] == ["moved"]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (ir.File(kind="image", url="https://example.com/a.png"), "base64"),
        (ir.File(kind="document", data=PDF, media_type="application/pdf"), "only images"),
        (ir.File(kind="file", data=PDF), "only images"),
        (ir.File(kind="image", file_id="file-1"), "file id"),
    ],
)
def test_what_is_not_a_base64_image_is_refused(part: ir.File, match: str) -> None:
    with pytest.raises(UnsupportedFeature, match=match):
        encode(_request(_user("x", part)))


def test_developer_turns_become_system_and_opaque_blocks_are_dropped() -> None:
    report = ir.Report()
    body = encode(
        _request(
            ir.Message(role="developer", parts=(ir.Text(text="rules"),)),
            ir.Message(role="user", parts=(ir.Text(text="q"),), name="alice"),
            ir.Message(
                role="assistant",
                parts=(
                    ir.Opaque(origin="anthropic", data={"type": "server_tool_use"}),
                    ir.Text(text="a"),
                ),
            ),
        ),
        report,
    )
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert set(report.dropped_fields) == {"messages[].name", "anthropic block server_tool_use"}


def test_fim_requests_use_generate_with_suffix_and_system() -> None:
    req = ir.Request(
        model="m",
        messages=(ir.Message(role="system", parts=(ir.Text(text="sys"),)),),
        fim=ir.FimPrompt(prefix="def f(", suffix="\n"),
        stream=True,
    )
    up = C.encode_request(req, Target(protocol="ollama", model="qwen"), ir.Report())
    body = json.loads(up.body)
    assert up.path == "/api/generate" and up.stream is True
    assert body == {
        "model": "qwen",
        "stream": True,
        "prompt": "def f(",
        "suffix": "\n",
        "system": "sys",
    }


def test_ollama_only_fields_are_noted_when_the_backend_is_another_protocol() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "keep_alive": "5m",
        "logprobs": True,
        "top_logprobs": 3,
        "options": {"num_ctx": 2048, "temperature": 0.3},
    }
    ex = Exchange(
        call=CHAT,
        client=C,
        backend=codec("anthropic"),
        target=Target(protocol="anthropic", model="claude"),
    )
    ex.decode(json.dumps(body).encode())
    ex.encode()
    assert {"keep_alive", "logprobs", "top_logprobs", "options"} <= set(ex.report.dropped_fields)


def test_a_generate_client_call_reaches_a_chat_backend_through_the_fim_bridge() -> None:
    call = ClientCall(protocol="ollama", endpoint="generate", variant="generate")
    ex = Exchange(
        call=call,
        client=C,
        backend=codec("openai-chat"),
        target=Target(protocol="openai-chat", model="gpt"),
    )
    ex.decode(
        json.dumps({"model": "m", "prompt": "Why is the sky blue?", "stream": False}).encode()
    )
    body = json.loads(ex.encode().body)
    assert "Why is the sky blue?" in json.dumps(body["messages"])
