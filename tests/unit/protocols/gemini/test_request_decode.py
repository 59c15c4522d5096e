"""Decoding a Gemini client's GenerateContentRequest into the IR."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire.ir import (
    ClientRequestError,
    File,
    NativeTool,
    Opaque,
    Reasoning,
    ReasoningConfig,
    Report,
    ResponseFormat,
    Text,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from crosswire.protocols.base import ClientCall
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.callids import is_synthetic

from .support import decode, decode_recorded_request, sse_call


def user(*parts: dict[str, Any], role: str | None = "user") -> dict[str, Any]:
    content: dict[str, Any] = {"parts": list(parts)}
    if role is not None:
        content["role"] = role
    return content


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def test_model_and_stream_come_from_the_url() -> None:
    request = decode({"contents": [user({"text": "hi"})]}, call=sse_call("gemini-3-pro-preview"))
    assert (request.model, request.stream) == ("gemini-3-pro-preview", True)


def test_missing_role_is_user_and_model_is_assistant() -> None:
    request = decode(
        {"contents": [user({"text": "a"}, role=None), model({"text": "b"}), user({"text": "c"})]}
    )
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[1].parts == (Text(text="b"),)


def test_url_safe_base64_from_google_genai_is_made_standard() -> None:
    request = decode_recorded_request("nonstream_image_inline_data")
    image = request.messages[1].parts[1]
    assert isinstance(image, File)
    assert image.kind == "image" and image.media_type == "image/jpeg"
    assert image.data is not None and image.data.startswith("/9j/4AAQ")
    assert "-" not in image.data and "_" not in image.data


def test_snake_case_fields_are_accepted() -> None:
    """pydantic-ai and llm send ``inline_data``, ``function_call``, ``response_mime_type``."""
    request = decode_recorded_request("stream_json_array_after_function_response")
    call = request.messages[1].parts[0]
    result = request.messages[2].parts[0]
    assert isinstance(call, ToolCall) and call.id == "call_27db36357f594e73b557ec8f70da9e87"
    assert isinstance(result, ToolResult) and result.call_id == call.id
    schema = decode_recorded_request("stream_json_array_response_schema")
    assert schema.response_format is not None and schema.response_format.type == "json_schema"


def test_file_data_keeps_the_uri() -> None:
    request = decode(
        {
            "contents": [
                user({"fileData": {"fileUri": "gs://bucket/a.pdf", "mimeType": "application/pdf"}})
            ]
        }
    )
    assert request.messages[0].parts == (
        File(kind="document", media_type="application/pdf", url="gs://bucket/a.pdf"),
    )


def test_function_call_without_id_gets_a_stable_synthetic_id() -> None:
    """Edge case 29: Gemini 2.x calls have no id; the derived one is recognisable and the
    same for the same history."""
    body = {
        "contents": [
            user({"text": "weather?"}),
            model({"functionCall": {"name": "weather", "args": {"city": "Berlin"}}}),
            user({"functionResponse": {"name": "weather", "response": {"temp": 21}}}),
        ]
    }
    first, second = decode(body), decode(body)
    call = first.messages[1].parts[0]
    result = first.messages[2].parts[0]
    assert isinstance(call, ToolCall) and isinstance(result, ToolResult)
    assert is_synthetic(call.id)
    assert call.arguments == '{"city":"Berlin"}'
    assert result.call_id == call.id and result.name == "weather"
    assert result.content == (Text(text='{"temp":21}'),)
    assert first.messages == second.messages


def test_parallel_responses_pair_by_name_then_position() -> None:
    body = {
        "contents": [
            user({"text": "go"}),
            model(
                {"functionCall": {"name": "a", "args": {}}},
                {"functionCall": {"name": "b", "args": {}}},
                {"functionCall": {"name": "a", "args": {"n": 2}}},
            ),
            user(
                {"functionResponse": {"name": "b", "response": {"result": "B"}}},
                {"functionResponse": {"name": "a", "response": {"result": "A1"}}},
                {"functionResponse": {"name": "a", "response": {"result": "A2"}}},
            ),
        ]
    }
    request = decode(body)
    calls = [p for p in request.messages[1].parts if isinstance(p, ToolCall)]
    results = [p for p in request.messages[2].parts if isinstance(p, ToolResult)]
    assert [r.call_id for r in results] == [calls[1].id, calls[0].id, calls[2].id]
    assert [r.content for r in results] == [
        (Text(text="B"),),
        (Text(text="A1"),),
        (Text(text="A2"),),
    ]


def test_client_made_response_id_for_an_id_less_call_still_pairs() -> None:
    """Gemini CLI answers an id-less call with an id it invented: the IR pair agrees, and
    the client's id is kept for the Gemini encoder."""
    body = {
        "contents": [
            user({"text": "ls"}),
            model({"functionCall": {"name": "list_directory", "args": {"path": "."}}}),
            user(
                {
                    "functionResponse": {
                        "id": "list_directory-1712-abc",
                        "name": "list_directory",
                        "response": {"output": "a.txt"},
                    }
                }
            ),
        ]
    }
    request = decode(body)
    call = request.messages[1].parts[0]
    result = request.messages[2].parts[0]
    assert isinstance(call, ToolCall) and isinstance(result, ToolResult)
    assert result.call_id == call.id
    assert result.native["gemini"]["id"] == "list_directory-1712-abc"


def test_gemini3_ids_are_kept() -> None:
    body = {
        "contents": [
            user({"text": "q"}),
            model(
                {
                    "functionCall": {"id": "96c1su3s", "name": "f", "args": {}},
                    "thoughtSignature": "c2ln",
                }
            ),
            user(
                {"functionResponse": {"id": "96c1su3s", "name": "f", "response": {"result": "ok"}}}
            ),
        ]
    }
    request = decode(body)
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall)
    assert call.id == "96c1su3s"
    assert call.native["gemini"]["thoughtSignature"] == "c2ln"
    assert request.messages[2].parts[0].call_id == "96c1su3s"  # type: ignore[union-attr]


def test_user_turn_with_results_and_text_splits_into_tool_and_user_messages() -> None:
    """The same rule as Anthropic's: ``[fr, fr, text]`` → tool[r1, r2] + user[text]."""
    body = {
        "contents": [
            user({"text": "q"}),
            model(
                {"functionCall": {"name": "a", "args": {}}},
                {"functionCall": {"name": "b", "args": {}}},
            ),
            user(
                {"functionResponse": {"name": "a", "response": {"result": "1"}}},
                {"functionResponse": {"name": "b", "response": {"result": "2"}}},
                {"text": "and now?"},
            ),
        ]
    }
    messages = decode(body).messages
    assert [m.role for m in messages] == ["user", "assistant", "tool", "user"]
    assert len(messages[2].parts) == 2
    assert messages[3].parts == (Text(text="and now?"),)


def test_function_response_errors_and_media() -> None:
    """Edge cases 40, 41: ``{"error": …}`` is an error result; ``parts`` carry images."""
    body = {
        "contents": [
            user({"text": "q"}),
            model({"functionCall": {"name": "shot", "args": {}}}),
            user(
                {
                    "functionResponse": {
                        "name": "shot",
                        "response": {"error": "no display"},
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}}],
                    }
                }
            ),
        ]
    }
    result = decode(body).messages[2].parts[0]
    assert isinstance(result, ToolResult)
    assert result.is_error
    assert result.content == (
        Text(text="no display"),
        File(kind="image", media_type="image/png", data="iVBORw0KGgo="),
    )


def test_thought_parts_are_reasoning_and_signatures_stay_on_their_part() -> None:
    """Edge cases 67, 68: thoughts never become visible text; a text part's signature is
    kept in its native."""
    body = {
        "contents": [
            user({"text": "q"}),
            model(
                {"text": "thinking...", "thought": True, "thoughtSignature": "c2lnMQ"},
                {"text": "answer", "thoughtSignature": "c2lnMg"},
            ),
            user({"text": "more"}),
        ]
    }
    parts = decode(body).messages[1].parts
    assert parts[0] == Reasoning(text="thinking...", signature="c2lnMQ", origin="gemini")
    assert parts[1] == Text(text="answer", native={"gemini": {"thoughtSignature": "c2lnMg"}})


def test_thought_marker_text_without_flag_stays_text() -> None:
    """Edge case 71: no heuristics on ``THOUGHT:``-looking text."""
    request = decode(
        {"contents": [user({"text": "q"}), model({"text": "THOUGHT: hmm"}), user({"text": "x"})]}
    )
    assert request.messages[1].parts == (Text(text="THOUGHT: hmm"),)


def test_system_instruction_and_tools() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "contents": [user({"text": "q"})],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "weather",
                        "description": "Gets weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING", "nullable": True}},
                            "required": ["city"],
                        },
                    },
                    {
                        "name": "raw",
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {"x": {"const": 1}},
                        },
                    },
                    {"name": "noargs"},
                ]
            },
            {"googleSearch": {}},
            {"code_execution": {}},
        ],
    }
    request = decode(body)
    assert request.messages[0].role == "system"
    assert request.messages[0].parts == (Text(text="Be brief."), Text(text="Be kind."))
    weather, raw, noargs = request.tools
    assert weather.parameters == {
        "type": "object",
        "properties": {"city": {"type": ["string", "null"]}},
        "required": ["city"],
    }
    assert raw.parameters == {"type": "object", "properties": {"x": {"const": 1}}}
    assert raw.native["gemini"]["parametersJsonSchema"] == {
        "type": "object",
        "properties": {"x": {"const": 1}},
    }
    assert weather.native["gemini"]["parameters"]["type"] == "OBJECT"  # verbatim for Gemini
    assert noargs.parameters is None
    assert request.native_tools == (
        NativeTool(origin="gemini", data={"googleSearch": {}}),
        NativeTool(origin="gemini", data={"codeExecution": {}}),
    )


def test_system_instruction_as_a_string() -> None:
    request = decode({"systemInstruction": "Be brief.", "contents": [user({"text": "q"})]})
    assert request.messages[0].parts == (Text(text="Be brief."),)


@pytest.mark.parametrize(
    ("config", "choice", "native"),
    [
        ({"mode": "AUTO"}, ToolChoice(mode="auto"), {}),
        ({"mode": "NONE"}, ToolChoice(mode="none"), {}),
        ({"mode": "ANY"}, ToolChoice(mode="required"), {}),
        ({"mode": "ANY", "allowedFunctionNames": ["f"]}, ToolChoice(mode="tool", name="f"), {}),
        (
            {"mode": "ANY", "allowedFunctionNames": ["f", "g"]},
            ToolChoice(mode="required"),
            {"toolConfig.functionCallingConfig.allowedFunctionNames": ["f", "g"]},
        ),
        (
            {"mode": "VALIDATED"},
            ToolChoice(mode="auto"),
            {"toolConfig.functionCallingConfig.mode": "VALIDATED"},
        ),
        ({"mode": "MODE_UNSPECIFIED"}, None, {}),
    ],
)
def test_function_calling_config_maps_to_tool_choice(
    config: dict[str, Any], choice: ToolChoice | None, native: dict[str, Any]
) -> None:
    """Edge case 32: ANY with one name is a named tool; what ToolChoice cannot say stays native."""
    request = decode(
        {"contents": [user({"text": "q"})], "toolConfig": {"functionCallingConfig": config}}
    )
    assert request.tool_choice == choice
    assert dict(request.native.get("gemini", {})) == native


def test_generation_config_maps_to_params() -> None:
    body = {
        "contents": [user({"text": "q"})],
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 0.3,
            "topP": 0.9,
            "topK": 40.0,
            "stopSequences": ["END"],
            "candidateCount": 2,
            "seed": 7,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "responseModalities": ["TEXT"],
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "x"},
    }
    request = decode(body)
    p = request.params
    assert (p.max_tokens, p.temperature, p.top_p, p.top_k, p.stop, p.n, p.seed) == (
        100,
        0.3,
        0.9,
        40,
        ("END",),
        2,
        7,
    )
    assert (p.presence_penalty, p.frequency_penalty) == (0.1, 0.2)
    assert dict(request.native["gemini"]) == {
        "safetySettings": body["safetySettings"],
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "x"},
        "generationConfig.responseModalities": ["TEXT"],
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"responseMimeType": "application/json"}, ResponseFormat(type="json_object")),
        (
            {
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "title": "City"},
            },
            ResponseFormat(
                type="json_schema", schema={"type": "object", "title": "City"}, name="City"
            ),
        ),
        (
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "NUMBER"}}},
            },
            ResponseFormat(
                type="json_schema",
                schema={"type": "object", "properties": {"a": {"type": "number"}}},
            ),
        ),
        ({"responseMimeType": "text/plain"}, None),
        (
            {
                "responseMimeType": "text/x.enum",
                "responseSchema": {"type": "STRING", "enum": ["a"]},
            },
            None,
        ),
    ],
)
def test_response_formats(config: dict[str, Any], expected: ResponseFormat | None) -> None:
    """Edge case 59."""
    request = decode({"contents": [user({"text": "q"})], "generationConfig": config})
    assert request.response_format == expected


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"thinkingBudget": 0}, ReasoningConfig(enabled=False)),
        (
            {"thinkingBudget": 2048, "includeThoughts": True},
            ReasoningConfig(enabled=True, budget_tokens=2048, include_thoughts=True),
        ),
        ({"thinkingBudget": -1}, ReasoningConfig(enabled=True, adaptive=True)),
        (
            {"thinkingLevel": "low", "includeThoughts": True},
            ReasoningConfig(enabled=True, effort="low", include_thoughts=True),
        ),
        ({"thinking_level": "HIGH"}, ReasoningConfig(enabled=True, effort="high")),
        ({"include_thoughts": True}, ReasoningConfig(include_thoughts=True)),
    ],
)
def test_thinking_config(thinking: dict[str, Any], expected: ReasoningConfig) -> None:
    """Edge case 69."""
    request = decode(
        {"contents": [user({"text": "q"})], "generationConfig": {"thinkingConfig": thinking}}
    )
    assert request.reasoning == expected


def test_count_tokens_bodies() -> None:
    call = ClientCall(protocol="gemini", endpoint="count_tokens", model="gemini-2.5-flash")
    plain = CODEC.decode_request(
        call, json.dumps({"contents": [user({"text": "hi"})]}).encode(), Report()
    )
    wrapped = CODEC.decode_request(
        call,
        json.dumps(
            {
                "generateContentRequest": {
                    "model": "models/gemini-2.5-flash",
                    "contents": [user({"text": "hi"})],
                    "systemInstruction": {"parts": [{"text": "sys"}]},
                }
            }
        ).encode(),
        Report(),
    )
    assert plain.messages[-1].parts == (Text(text="hi"),)
    assert [m.role for m in wrapped.messages] == ["system", "user"]
    assert wrapped.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contents": "hi"}, "contents"),
        ({"contents": [{"role": "user", "parts": "x"}]}, "contents[0].parts"),
        ({"contents": [{"role": "assistant", "parts": []}]}, "contents[0].role"),
        ({"contents": [user({"text": 5})]}, "contents[0].parts[0].text"),
        ({"contents": [user({"functionCall": {"name": "f", "args": {}}})]}, "contents[0].parts[0]"),
        ({"contents": [user({"inlineData": {"data": 3}})]}, "contents[0].parts[0].inlineData.data"),
        (
            {"contents": [], "generationConfig": {"temperature": "hot"}},
            "generationConfig.temperature",
        ),
        (
            {"contents": [], "tools": [{"functionDeclarations": [{"description": "x"}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
        (
            {
                "contents": [],
                "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": [1]}},
            },
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        ),
    ],
)
def test_wrong_types_are_client_errors_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientRequestError) as caught:
        decode(body)
    assert field in str(caught.value)


def test_bad_json_is_a_client_error() -> None:
    with pytest.raises(ClientRequestError):
        CODEC.decode_request(sse_call(), b"{not json", Report())


def test_unknown_part_types_are_opaque() -> None:
    body = {
        "contents": [
            user({"text": "q"}),
            model({"executableCode": {"language": "PYTHON", "code": "1+1"}}),
            user({"text": "x"}),
        ]
    }
    part = decode(body).messages[1].parts[0]
    assert isinstance(part, Opaque)
    assert part.data == {"executableCode": {"language": "PYTHON", "code": "1+1"}}
