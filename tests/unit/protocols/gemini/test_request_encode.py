"""Encoding IR requests for a Gemini backend."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire.ir import (
    File,
    Message,
    NativeTool,
    Opaque,
    Params,
    Reasoning,
    ReasoningConfig,
    Report,
    Request,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    UnsupportedFeature,
)
from crosswire.protocols.gemini import CODEC
from crosswire.protocols.gemini.callids import synthetic_call_id

from .support import decode, encode_body, target

SYNTH = synthetic_call_id("seed", 0)


def req(*messages: Message, **kw: Any) -> Request:
    return Request(model="gemini-2.5-flash", messages=messages, **kw)


def u(text: str) -> Message:
    return Message(role="user", parts=(Text(text=text),))


def a(*parts: Any) -> Message:
    return Message(role="assistant", parts=tuple(parts))


def tool(*results: ToolResult) -> Message:
    return Message(role="tool", parts=results)


def call(cid: str, name: str = "f", args: str = "{}", **native: Any) -> ToolCall:
    return ToolCall(id=cid, name=name, arguments=args, native={"gemini": native} if native else {})


def result(cid: str, text: str, name: str | None = None, **kw: Any) -> ToolResult:
    return ToolResult(call_id=cid, name=name, content=(Text(text=text),), **kw)


# ---- the call -------------------------------------------------------------------------------


def test_stream_asks_for_sse_and_whole_uses_generate_content() -> None:
    """Edge case 7 in docs/edge-cases.md: always ``alt=sse`` upstream."""
    stream = CODEC.encode_request(req(u("hi"), stream=True), target(), Report())
    assert stream.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert stream.query == {"alt": "sse"} and stream.stream
    whole = CODEC.encode_request(
        req(u("hi")), target("models/gemini-2.0-flash", api_version="v1"), Report()
    )
    assert whole.path == "/v1/models/gemini-2.0-flash:generateContent"
    assert whole.query == {} and not whole.stream
    assert whole.headers["content-type"] == "application/json"


# ---- messages -------------------------------------------------------------------------------


def test_leading_instructions_lift_and_later_ones_become_reminders() -> None:
    """Edge cases 45, 46: one systemInstruction; later system text as user text."""
    report = Report()
    request = req(
        Message(role="system", parts=(Text(text="Be brief."),)),
        Message(role="developer", parts=(Text(text="Use tools."),)),
        u("q1"),
        a(Text(text="a1")),
        Message(role="system", parts=(Text(text="Now be verbose."),)),
        u("q2"),
    )
    body = encode_body(request, report=report)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use tools."}]}
    assert body["contents"][-1] == {
        "role": "user",
        "parts": [
            {"text": "<system-reminder>\nNow be verbose.\n</system-reminder>"},
            {"text": "q2"},
        ],
    }
    assert any(n.action == "moved" and n.field == "system message" for n in report.notes)


def test_consecutive_same_role_turns_are_merged() -> None:
    """Edge case 47."""
    body = encode_body(req(u("a"), u("b"), a(Text(text="c")), a(Text(text="d")), u("e")))
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "parts": [{"text": "e"}]},
    ]


def test_tool_results_form_one_user_turn_in_call_order_named_by_function() -> None:
    """Edge cases 29, 38: one user turn, one functionResponse per call, calls' order, name
    from the call (OpenAI results carry none), synthetic ids left out, results before text."""
    c1, c2 = synthetic_call_id("x", 1), synthetic_call_id("x", 2)
    request = req(
        u("go"),
        a(call(c1, "read", '{"p":1}'), call(c2, "grep", '{"q":"x"}')),
        tool(result(c2, "found")),
        tool(result(c1, '{"content": "file"}')),
        u("thanks"),
    )
    body = encode_body(request)
    model_turn, user_turn = body["contents"][1], body["contents"][2]
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "read", "args": {"p": 1}},
        {"name": "grep", "args": {"q": "x"}},
    ]
    assert user_turn == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "read", "response": {"content": "file"}}},
            {"functionResponse": {"name": "grep", "response": {"result": "found"}}},
            {"text": "thanks"},
        ],
    }


def test_real_ids_are_sent_both_ways() -> None:
    body = encode_body(
        req(u("q"), a(call("toolu_01", "f")), tool(result("toolu_01", "ok", name="f")))
    )
    assert body["contents"][1]["parts"][0]["functionCall"]["id"] == "toolu_01"
    assert body["contents"][2]["parts"][0]["functionResponse"]["id"] == "toolu_01"


@pytest.mark.parametrize(
    ("text", "is_error", "response"),
    [
        ('{"temp": 21, "unit": "C"}', False, {"temp": 21, "unit": "C"}),
        ("plain text", False, {"result": "plain text"}),
        ("[1, 2]", False, {"result": "[1, 2]"}),
        ("", False, {"result": ""}),
        ("file not found", True, {"error": "file not found"}),
    ],
)
def test_function_response_is_always_an_object(
    text: str, is_error: bool, response: dict[str, Any]
) -> None:
    """Edge cases 39, 40."""
    request = req(u("q"), a(call("c1")), tool(result("c1", text, name="f", is_error=is_error)))
    fr = encode_body(request)["contents"][2]["parts"][0]["functionResponse"]
    assert fr["response"] == response


def test_object_results_are_embedded_verbatim() -> None:
    request = req(
        u("q"),
        a(call("c1", args='{"b": 1.50, "a": 2}')),
        tool(result("c1", '{"z": 1e3, "y": 0.10}', name="f")),
    )
    raw = CODEC.encode_request(request, target(), Report()).body
    assert b'"args":{"b": 1.50, "a": 2}' in raw
    assert b'"response":{"z": 1e3, "y": 0.10}' in raw


def test_result_without_name_or_call_is_refused() -> None:
    with pytest.raises(UnsupportedFeature, match="no function name"):
        encode_body(req(u("q"), tool(result("orphan", "x")), u("x")))


def test_images_in_tool_results_for_gemini3_and_for_older_models() -> None:
    """Edge case 41: ``functionResponse.parts`` on Gemini 3, sibling parts before that."""
    screenshot = File(kind="image", media_type="image/png", data="iVBORw0KGgo=")
    shot = ToolResult(call_id="c1", name="shot", content=(Text(text="done"), screenshot))
    request = req(u("q"), a(call("c1", "shot")), tool(shot))
    new = encode_body(request, model="gemini-3-pro-preview")["contents"][2]["parts"]
    assert new == [
        {
            "functionResponse": {
                "name": "shot",
                "id": "c1",
                "response": {"result": "done"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}],
            }
        }
    ]
    report = Report()
    old = encode_body(request, model="gemini-2.5-flash", report=report)["contents"][2]["parts"]
    assert old == [
        {"functionResponse": {"name": "shot", "id": "c1", "response": {"result": "done"}}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
    ]
    assert any(n.field == "tool result files" for n in report.notes)


def test_files_inline_gs_and_data_urls() -> None:
    request = req(
        Message(
            role="user",
            parts=(
                File(kind="image", url="data:image/jpg;base64,/9j/4AAQ"),
                File(kind="document", url="gs://b/doc.pdf", media_type="application/pdf"),
                File(kind="file", file_id="files/abc123"),
                File(kind="image", data="iVBORw0KGgoAAAANSUhEUg=="),
            ),
        )
    )
    assert encode_body(request)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"fileData": {"fileUri": "gs://b/doc.pdf", "mimeType": "application/pdf"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}},
    ]


def test_remote_image_urls_cannot_be_fetched_and_are_refused_by_name() -> None:
    """Edge case 53: fileUri reads only Files-API, gs:// and YouTube URIs; a sans-IO codec
    cannot fetch, so the request is refused naming the URL (never dropped silently)."""
    request = req(
        Message(role="user", parts=(File(kind="image", url="https://example.com/cat.png"),))
    )
    with pytest.raises(UnsupportedFeature, match=r"https://example\.com/cat\.png"):
        encode_body(request)
    with pytest.raises(UnsupportedFeature, match="file-abc"):
        encode_body(req(Message(role="user", parts=(File(kind="document", file_id="file-abc"),))))


def test_trailing_assistant_prefill_is_dropped() -> None:
    """Edge case 48."""
    report = Report()
    body = encode_body(req(u("q"), a(Text(text='{"answer":'))), report=report)
    assert [c["role"] for c in body["contents"]] == ["user"]
    assert "trailing assistant message" in report.dropped_fields


def test_system_only_request_becomes_a_user_turn() -> None:
    body = encode_body(req(Message(role="system", parts=(Text(text="Say hi."),))))
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hi."}]}]
    assert "systemInstruction" not in body


def test_foreign_reasoning_is_dropped_and_gemini_reasoning_goes_back_signed() -> None:
    """Edge case 67: another provider's thoughts never become visible text."""
    report = Report()
    request = req(
        u("q"),
        a(
            Reasoning(text="anthropic thinking", signature="EqQB", origin="anthropic"),
            Reasoning(text="gemini thought", signature="c2ln", origin="gemini"),
            Text(text="answer", native={"gemini": {"thoughtSignature": "dGV4dA"}}),
        ),
        u("more"),
    )
    parts = encode_body(request, report=report)["contents"][1]["parts"]
    assert parts == [
        {"text": "gemini thought", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "answer", "thoughtSignature": "dGV4dA"},
    ]
    assert "reasoning" in report.dropped_fields


def test_unsigned_cross_provider_calls_get_the_placeholder_on_the_first_call_only() -> None:
    """Edge case 68: Gemini 3 needs a signature on the first call of each step."""
    report = Report()
    request = req(
        u("q"),
        a(call("toolu_1", "a"), call("toolu_2", "b")),
        tool(result("toolu_1", "1", name="a"), result("toolu_2", "2", name="b")),
    )
    parts = encode_body(request, model="gemini-3-pro-preview", report=report)["contents"][1][
        "parts"
    ]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]
    assert any(n.action == "invented" and n.field == "thoughtSignature" for n in report.notes)


def test_gemini_signed_calls_keep_their_signature_and_no_placeholder() -> None:
    request = req(
        u("q"),
        a(call("c1", "a", thoughtSignature="cmVhbA"), call("c2", "b")),
        tool(result("c1", "1", name="a"), result("c2", "2", name="b")),
    )
    parts = encode_body(request, model="gemini-3-flash-preview")["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "cmVhbA"
    assert "thoughtSignature" not in parts[1]


def test_no_placeholder_for_gemini2_models() -> None:
    request = req(u("q"), a(call("c1", "a")), tool(result("c1", "1", name="a")))
    parts = encode_body(request, model="gemini-2.5-flash")["contents"][1]["parts"]
    assert "thoughtSignature" not in parts[0]


def test_opaque_gemini_parts_go_back_and_others_are_dropped() -> None:
    report = Report()
    request = req(
        u("q"),
        a(
            Opaque(origin="gemini", data={"executableCode": {"language": "PYTHON", "code": "1"}}),
            Opaque(origin="anthropic", data={"type": "server_tool_use"}),
            Text(text="done"),
        ),
        u("ok"),
    )
    parts = encode_body(request, report=report)["contents"][1]["parts"]
    assert parts == [{"executableCode": {"language": "PYTHON", "code": "1"}}, {"text": "done"}]
    assert "assistant opaque" in report.dropped_fields


# ---- tools ----------------------------------------------------------------------------------


CLAUDE_BASH = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"command": {"type": "string"}},
    "required": ["command"],
    "additionalProperties": False,
}


def test_tools_are_json_schema_declarations() -> None:
    """Edge cases 56, 58: ``parametersJsonSchema`` without the root ``$schema``, everything
    else kept (``additionalProperties`` too); no-argument tools get none."""
    report = Report()
    request = req(
        u("q"),
        tools=(
            Tool(name="Bash", description="Run a command", parameters=CLAUDE_BASH, strict=True),
            Tool(name="now", parameters={"type": "object", "properties": {}}),
        ),
        native_tools=(
            NativeTool(origin="gemini", data={"googleSearch": {}}),
            NativeTool(origin="anthropic", data={"type": "web_search_20250305"}),
        ),
    )
    body = encode_body(request, report=report)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "Bash",
                    "description": "Run a command",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"command": {"type": "string"}},
                        "required": ["command"],
                        "additionalProperties": False,
                    },
                },
                {"name": "now"},
            ]
        },
        {"googleSearch": {}},
    ]
    dropped = report.dropped_fields
    assert "tools.parameters keywords" not in dropped
    assert "native tool web_search_20250305" in dropped
    assert "tools.strict" in dropped


def test_gemini_1_models_get_the_subset_parameters() -> None:
    """Gemini 1.x predates ``parametersJsonSchema``: the sanitised subset instead."""
    report = Report()
    request = req(u("q"), tools=(Tool(name="Bash", parameters=CLAUDE_BASH),))
    body = encode_body(request, model="gemini-1.5-pro", report=report)
    assert body["tools"][0]["functionDeclarations"][0]["parameters"] == {
        "type": "OBJECT",
        "properties": {"command": {"type": "STRING"}},
        "required": ["command"],
    }
    assert "tools.parameters keywords" in report.dropped_fields


def test_gemini_clients_json_schema_declarations_go_back_as_json_schema() -> None:
    request = decode(
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "tools": [
                {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {**CLAUDE_BASH}}]}
            ],
        }
    )
    decl = encode_body(request)["tools"][0]["functionDeclarations"][0]
    assert decl == {
        "name": "f",
        "parametersJsonSchema": {k: v for k, v in CLAUDE_BASH.items() if k != "$schema"},
    }


def test_long_mcp_names_pass_through_untouched() -> None:
    """Edge case 31: shortening is the pipeline's job; the codec keeps the name it gets."""
    name = "mcp__github__create_or_update_file_contents_in_repository_branch"
    body = encode_body(req(u("q"), tools=(Tool(name=name),)))
    assert body["tools"][0]["functionDeclarations"][0]["name"] == name


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (ToolChoice(mode="auto"), {"mode": "AUTO"}),
        (ToolChoice(mode="none"), {"mode": "NONE"}),
        (ToolChoice(mode="required"), {"mode": "ANY"}),
        (ToolChoice(mode="tool", name="Bash"), {"mode": "ANY", "allowedFunctionNames": ["Bash"]}),
    ],
)
def test_tool_choice_table(choice: ToolChoice, config: dict[str, Any]) -> None:
    """Edge case 32: ``none`` keeps the declarations; a named tool is ANY + allowed names."""
    body = encode_body(
        req(u("q"), tools=(Tool(name="Bash", parameters=CLAUDE_BASH),), tool_choice=choice)
    )
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "Bash"


def test_gemini_client_tool_config_round_trips() -> None:
    request = decode(
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}, {"name": "g"}, {"name": "h"}]}],
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}
            },
        }
    )
    assert encode_body(request)["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}
    }
    validated = decode(
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}},
        }
    )
    assert encode_body(validated)["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}


# ---- generation config ----------------------------------------------------------------------


def test_params_become_generation_config() -> None:
    report = Report()
    params = Params(
        max_tokens=64000,
        temperature=2.5,
        top_p=0.9,
        top_k=20,
        stop=("a", "", "b", "c", "d", "e", "f"),
        seed=3,
        n=2,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        min_tokens=5,
    )
    body = encode_body(req(u("q"), params=params, user="u-1"), report=report)
    assert body["generationConfig"] == {
        "maxOutputTokens": 64000,  # the pipeline clamps it (tests/unit/pipeline)
        "temperature": 2.0,
        "topP": 0.9,
        "topK": 20,
        "stopSequences": ["a", "b", "c", "d", "e"],
        "candidateCount": 2,
        "seed": 3,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
    }
    clamped = {n.field for n in report.notes if n.action == "clamped"}
    assert clamped == {"temperature", "stop"}  # edge cases 82, 84
    assert {"min_tokens", "user", "stop"} <= set(report.dropped_fields)


@pytest.mark.parametrize(
    ("fmt", "config"),
    [
        (ResponseFormat(type="json_object"), {"responseMimeType": "application/json"}),
        (
            ResponseFormat(
                type="json_schema",
                name="City",
                strict=True,
                schema={
                    "$schema": "x",
                    "type": "object",
                    "properties": {"c": {"type": "string"}},
                    "additionalProperties": False,
                },
            ),
            {
                "responseMimeType": "application/json",
                "responseJsonSchema": {
                    "type": "object",
                    "properties": {"c": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        ),
        (ResponseFormat(type="text"), None),
    ],
)
def test_response_format(fmt: ResponseFormat, config: dict[str, Any] | None) -> None:
    """Edge case 59: never silently dropped."""
    body = encode_body(req(u("q"), response_format=fmt))
    assert body.get("generationConfig") == config


def test_gemini_clients_subset_response_schema_goes_back_as_json_schema() -> None:
    """A subset ``responseSchema`` is decoded to standard JSON Schema; a Gemini backend gets
    it back in ``responseJsonSchema`` (the same constraint, the field every current model
    takes)."""
    schema = {"type": "OBJECT", "properties": {"result": {"type": "NUMBER"}}}
    request = decode(
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema},
        }
    )
    assert encode_body(request)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"result": {"type": "number"}}},
    }


@pytest.mark.parametrize(
    ("model", "reasoning", "config"),
    [
        (
            "gemini-2.5-flash",
            ReasoningConfig(budget_tokens=2048),
            {"thinkingBudget": 2048, "includeThoughts": True},
        ),
        (
            "gemini-2.5-flash",
            ReasoningConfig(effort="high"),
            {"thinkingBudget": 24576, "includeThoughts": True},
        ),
        (
            "gemini-2.5-flash",
            ReasoningConfig(effort="low", include_thoughts=False),
            {"thinkingBudget": 1024},
        ),
        ("gemini-2.5-flash", ReasoningConfig(enabled=False), {"thinkingBudget": 0}),
        ("gemini-2.5-pro", ReasoningConfig(enabled=False), {"thinkingBudget": 128}),
        (
            "gemini-2.5-flash",
            ReasoningConfig(enabled=True, adaptive=True),
            {"thinkingBudget": -1, "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(effort="medium"),
            {"thinkingLevel": "high", "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(effort="minimal"),
            {"thinkingLevel": "low", "includeThoughts": True},
        ),
        (
            "gemini-3-flash-preview",
            ReasoningConfig(effort="medium"),
            {"thinkingLevel": "medium", "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(budget_tokens=31999),
            {"thinkingBudget": 31999, "includeThoughts": True},
        ),
        ("gemini-3-pro-preview", ReasoningConfig(enabled=False), {"thinkingLevel": "low"}),
        ("gemini-flash-latest", ReasoningConfig(include_thoughts=True), {"includeThoughts": True}),
    ],
)
def test_thinking_config_by_model_generation(
    model: str, reasoning: ReasoningConfig, config: dict[str, Any]
) -> None:
    """Edge case 69: budgets for 2.x (and aliases), levels for 3; includeThoughts when the
    app asked for reasoning."""
    body = encode_body(Request(model=model, messages=(u("q"),), reasoning=reasoning))
    assert body["generationConfig"]["thinkingConfig"] == config


def test_gemini_client_native_fields_are_merged_back() -> None:
    request = decode(
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "cachedContent": "cachedContents/abc",
            "generationConfig": {"responseModalities": ["TEXT"], "temperature": 0.5},
        }
    )
    body = encode_body(request)
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]
    assert body["cachedContent"] == "cachedContents/abc"
    assert body["generationConfig"] == {"temperature": 0.5, "responseModalities": ["TEXT"]}


def test_fim_prompts_are_refused() -> None:
    from crosswire.ir import FimPrompt

    with pytest.raises(UnsupportedFeature):
        encode_body(Request(model="gemini-2.5-flash", fim=FimPrompt(prefix="a", suffix="b")))


def test_body_is_compact_utf8() -> None:
    raw = CODEC.encode_request(req(u("héllo ✓")), target(), Report()).body
    assert "héllo ✓".encode() in raw
    assert json.loads(raw)["contents"][0]["parts"][0]["text"] == "héllo ✓"


def test_turns_left_empty_do_not_break_alternation() -> None:
    """Edge cases 47, 48: a model turn holding only foreign reasoning disappears, and the
    user turns around it merge; an empty trailing user turn does not hide a prefill."""
    request = req(
        u("a"),
        a(Reasoning(text="hidden", origin="anthropic")),
        u("b"),
        a(Text(text="prefill")),
        Message(role="user", parts=()),
    )
    body = encode_body(request)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]
