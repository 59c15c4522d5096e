"""IR → the upstream ``/responses`` body (edges 26, 32, 35, 40, 59, 70, 80, 81, 85)."""

from __future__ import annotations

from typing import Any

import pytest

from crosswire import ir
from crosswire.protocols.base import Target
from tests.unit.protocols.openai_responses.support import C, decode, encode

USER = ir.Message(role="user", parts=(ir.Text(text="q"),))


def _request(*messages: ir.Message, **kw: Any) -> ir.Request:
    return ir.Request(model="app-model", messages=(USER, *messages), **kw)


def test_leading_system_messages_become_instructions_and_developer_messages_stay_items() -> None:
    """Edge 46."""
    body = encode(
        ir.Request(
            model="m",
            messages=(
                ir.Message(role="system", parts=(ir.Text(text="a"), ir.Text(text="b"))),
                ir.Message(role="system", parts=(ir.Text(text="c"),)),
                ir.Message(role="developer", parts=(ir.Text(text="dev"),)),
                USER,
                ir.Message(role="system", parts=(ir.Text(text="late"),)),
            ),
        )
    )
    assert body["instructions"] == "ab\n\nc"
    assert [i["role"] for i in body["input"]] == ["developer", "user", "system"]
    assert body["input"][0]["content"] == [{"type": "input_text", "text": "dev"}]
    assert body["model"] == "gpt-test"


def test_tool_calls_and_results_become_function_call_items() -> None:
    """Edge 26: call_id is the IR id; an ``fc_`` item id only when it came from Responses."""
    body = encode(
        _request(
            ir.Message(
                role="assistant",
                parts=(
                    ir.Text(text="calling"),
                    ir.ToolCall(
                        id="call_1",
                        name="f",
                        arguments='{"a":1}',
                        native={"openai-responses": {"id": "fc_1"}},
                    ),
                    ir.ToolCall(id="toolu_01", name="g", arguments=""),
                ),
            ),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(call_id="call_1", content=(ir.Text(text="one"),)),
                    ir.ToolResult(
                        call_id="toolu_01", content=(ir.Text(text="bad"),), is_error=True
                    ),
                ),
            ),
        )
    )
    assert body["input"][1:] == [
        {
            "type": "message",
            "role": "assistant",
            "content": "calling",
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "f",
            "arguments": '{"a":1}',
        },
        {"type": "function_call", "call_id": "toolu_01", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "one"},
        {"type": "function_call_output", "call_id": "toolu_01", "output": "Error: bad"},
    ]


def test_unsafe_ids_are_made_safe_the_same_way_for_calls_and_results() -> None:
    body = encode(
        _request(
            ir.Message(role="assistant", parts=(ir.ToolCall(id="functions.Bash:0", name="f"),)),
            ir.Message(role="tool", parts=(ir.ToolResult(call_id="functions.Bash:0"),)),
        )
    )
    assert body["input"][1]["call_id"] == body["input"][2]["call_id"]
    assert ":" not in body["input"][1]["call_id"]


def test_images_in_tool_results_go_in_an_output_list() -> None:
    """Edge 41/94: ``function_call_output.output`` takes input_image parts."""
    body = encode(
        _request(
            ir.Message(role="assistant", parts=(ir.ToolCall(id="c", name="shot"),)),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(
                        call_id="c",
                        content=(
                            ir.Text(text="here"),
                            ir.File(kind="image", media_type="image/png", data="iVBOR"),
                        ),
                    ),
                ),
            ),
        )
    )
    assert body["input"][2]["output"] == [
        {"type": "input_text", "text": "here"},
        {"type": "input_image", "detail": "auto", "image_url": "data:image/png;base64,iVBOR"},
    ]


def test_user_files_become_input_parts() -> None:
    body = encode(
        ir.Request(
            model="m",
            messages=(
                ir.Message(
                    role="user",
                    parts=(
                        ir.File(kind="image", url="https://x/i.png"),
                        ir.File(kind="document", media_type="application/pdf", data="JVBE"),
                        ir.File(kind="document", url="https://x/d.pdf"),
                        ir.File(kind="audio", media_type="audio/wav", data="UklG"),
                    ),
                ),
            ),
        )
    )
    assert body["input"][0]["content"] == [
        {"type": "input_image", "detail": "auto", "image_url": "https://x/i.png"},
        {
            "type": "input_file",
            "file_data": "data:application/pdf;base64,JVBE",
            "filename": "document.pdf",
        },
        {"type": "input_file", "file_url": "https://x/d.pdf"},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
    ]


def test_unsupported_audio_is_refused() -> None:
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(
                role="user", parts=(ir.File(kind="audio", media_type="audio/ogg", data="T2dn"),)
            ),
        ),
    )
    with pytest.raises(ir.UnsupportedFeature, match="audio"):
        encode(request)


def test_own_reasoning_goes_back_encrypted_with_its_id_to_openai_without_it_elsewhere() -> None:
    """With store false encrypted_content carries the state and include asks for it again.
    OpenAI takes the item's id beside it (recorded; its SDK type requires the id); other
    servers cannot resolve an unstored id (edge 70), so they get none."""
    request = _request(
        ir.Message(
            role="assistant",
            parts=(
                ir.Reasoning(
                    text="thinking",
                    origin="openai-responses",
                    native={"openai-responses": {"id": "rs_1"}},
                ),
                ir.Reasoning(
                    redacted="gAAAenc",
                    origin="openai-responses",
                    native={"openai-responses": {"id": "rs_1"}},
                ),
                ir.ToolCall(id="call_1", name="f", arguments="{}"),
            ),
        ),
        ir.Message(role="tool", parts=(ir.ToolResult(call_id="call_1"),)),
        reasoning=ir.ReasoningConfig(effort="low"),
    )
    item = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "thinking"}],
        "encrypted_content": "gAAAenc",
    }
    assert encode(request)["input"][1] == {**item, "id": "rs_1"}
    other = Target(protocol="openai-responses", model="m", dialect="openrouter")
    body = encode(request, other)
    assert body["input"][1] == item
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"effort": "low"}


def test_reasoning_keeps_its_id_when_the_app_stores_responses() -> None:
    request = decode(
        {
            "model": "m",
            "store": True,
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "x"},
            ],
        }
    )
    body = encode(request)
    assert body["store"] is True and "include" not in body
    assert body["input"][1] == {"type": "reasoning", "id": "rs_1", "summary": []}


def test_reasoning_without_encrypted_content_is_dropped_with_store_false() -> None:
    report = ir.Report()
    body = encode(
        _request(
            ir.Message(
                role="assistant",
                parts=(
                    ir.Reasoning(
                        text="t",
                        origin="openai-responses",
                        native={"openai-responses": {"id": "rs_1"}},
                    ),
                    ir.Text(text="a"),
                ),
            )
        ),
        report=report,
    )
    assert [i["type"] for i in body["input"]] == ["message", "message"]
    assert "reasoning" in report.dropped_fields


def test_open_model_reasoning_content_goes_back_with_its_id() -> None:
    """Raw ``reasoning_text`` content (gpt-oss behind vLLM) has no encrypted form."""
    request = decode(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "raw"}],
                },
                {"role": "assistant", "content": "a"},
            ],
        }
    )
    assert encode(request)["input"][1] == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "raw"}],
    }


def test_other_providers_reasoning_is_dropped_with_a_note() -> None:
    """OpenAI cannot verify Anthropic signatures or Gemini thoughts."""
    report = ir.Report()
    body = encode(
        _request(
            ir.Message(
                role="assistant",
                parts=(
                    ir.Reasoning(text="t", signature="sig", origin="anthropic"),
                    ir.Text(text="a"),
                ),
            )
        ),
        report=report,
    )
    assert [i["type"] for i in body["input"]] == ["message", "message"]
    assert "reasoning" in report.dropped_fields


def test_tools_are_flat_with_strict_false_unless_asked() -> None:
    """Edge 35 (flat) and the API's strict default, which rejects ordinary schemas."""
    body = encode(
        _request(
            tools=(
                ir.Tool(name="f", description="d", parameters={"type": "object"}),
                ir.Tool(name="g", strict=True),
            ),
            native_tools=(
                ir.NativeTool(origin="openai-responses", data={"type": "web_search"}),
                ir.NativeTool(
                    origin="anthropic", data={"type": "web_search_20250305", "name": "web_search"}
                ),
            ),
            tool_choice=ir.ToolChoice(mode="tool", name="f"),
            parallel_tool_calls=False,
        )
    )
    assert body["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": "d",
            "parameters": {"type": "object"},
            "strict": False,
        },
        {
            "type": "function",
            "name": "g",
            "parameters": {"type": "object", "properties": {}},
            "strict": True,
        },
        {"type": "web_search"},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ir.ToolChoice(mode="auto"), "auto"),
        (ir.ToolChoice(mode="none"), "none"),
        (ir.ToolChoice(mode="required"), "required"),
    ],
)
def test_tool_choice_modes(choice: ir.ToolChoice, wire: str) -> None:
    """Edge 32: none stays none (never "any")."""
    body = encode(_request(tools=(ir.Tool(name="f"),), tool_choice=choice))
    assert body["tool_choice"] == wire


@pytest.mark.parametrize(
    ("fmt", "wire"),
    [
        (
            ir.ResponseFormat(type="json_schema", name="p", strict=True, schema={"type": "object"}),
            {"type": "json_schema", "name": "p", "schema": {"type": "object"}, "strict": True},
        ),
        (
            ir.ResponseFormat(type="json_schema"),
            {"type": "json_schema", "name": "response", "schema": {"type": "object"}},
        ),
        (ir.ResponseFormat(type="json_object"), {"type": "json_object"}),
    ],
)
def test_response_format_becomes_text_format(fmt: ir.ResponseFormat, wire: dict[str, Any]) -> None:
    """Edge 59: name/strict/schema move up to ``text.format``."""
    assert encode(_request(response_format=fmt))["text"] == {"format": wire}


def test_max_tokens_is_raised_to_the_api_minimum() -> None:
    """Edge 80 (the backend's ceiling is the pipeline's clamp: tests/unit/pipeline)."""
    report = ir.Report()
    assert (
        encode(_request(params=ir.Params(max_tokens=5)), report=report)["max_output_tokens"] == 16
    )
    assert "max_output_tokens" in [n.field for n in report.notes if n.action == "clamped"]


def test_parameters_without_a_responses_equivalent_are_dropped_with_notes() -> None:
    report = ir.Report()
    body = encode(
        _request(
            params=ir.Params(
                stop=("\n",), seed=1, top_k=3, presence_penalty=0.1, temperature=3.0, top_p=0.9
            )
        ),
        report=report,
    )
    assert {"stop", "seed", "top_k", "presence_penalty"} <= set(report.dropped_fields)
    assert body["temperature"] == 2.0 and body["top_p"] == 0.9
    assert not {"stop", "seed", "top_k", "presence_penalty"} & set(body)


def test_n_above_one_is_refused() -> None:
    """Edge 85."""
    with pytest.raises(ir.UnsupportedFeature, match="'n'"):
        encode(_request(params=ir.Params(n=2)))


@pytest.mark.parametrize(
    ("reasoning", "wire"),
    [
        (
            ir.ReasoningConfig(enabled=True, budget_tokens=3000, include_thoughts=True),
            {"effort": "low", "summary": "auto"},
        ),
        (ir.ReasoningConfig(enabled=True, budget_tokens=31999), {"effort": "high"}),
        (ir.ReasoningConfig(enabled=True, adaptive=True), {"effort": "medium"}),
        (ir.ReasoningConfig(enabled=False), {"effort": "minimal"}),
        (
            ir.ReasoningConfig(effort="xhigh", summary="detailed"),
            {"effort": "xhigh", "summary": "detailed"},
        ),
    ],
)
def test_thinking_settings_become_reasoning_effort(
    reasoning: ir.ReasoningConfig, wire: dict[str, str]
) -> None:
    assert encode(_request(reasoning=reasoning))["reasoning"] == wire


def test_azure_uses_the_v1_path() -> None:
    request = _request(stream=True)
    plain = C.encode_request(
        request, Target(protocol="openai-responses", model="dep", dialect="azure"), ir.Report()
    )
    assert (plain.path, dict(plain.query)) == ("/openai/v1/responses", {})
    preview = C.encode_request(
        request,
        Target(protocol="openai-responses", model="dep", dialect="azure", api_version="preview"),
        ir.Report(),
    )
    assert (preview.path, dict(preview.query)) == (
        "/openai/v1/responses",
        {"api-version": "preview"},
    )
    dated = C.encode_request(
        request,
        Target(
            protocol="openai-responses",
            model="dep",
            dialect="azure",
            api_version="2025-04-01-preview",
        ),
        ir.Report(),
    )
    assert (dated.path, dict(dated.query)) == (
        "/openai/responses",
        {"api-version": "2025-04-01-preview"},
    )
    assert plain.stream is True


def test_a_codex_request_round_trips_unchanged() -> None:
    """What Codex sends comes back out the same (a Responses-to-Responses conversion), but for
    its id-less assistant text, which goes in the string form both the SDK types and the API
    take."""
    body = {
        "model": "gpt-test",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "sandbox"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "fix it"}],
            },
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "look"}],
                "encrypted_content": "gAAA",
            },
            {
                "type": "message",
                "role": "assistant",
                "phase": "commentary",
                "content": [{"type": "output_text", "text": "running"}],
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "shell",
                "arguments": '{"cmd":["ls"]}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "a.py"},
            {
                "type": "custom_tool_call",
                "call_id": "call_2",
                "name": "apply_patch",
                "input": "*** Begin",
            },
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "ok"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "shell",
                "description": "run",
                "strict": False,
                "parameters": {"type": "object"},
            },
            {
                "type": "custom",
                "name": "apply_patch",
                "format": {"type": "grammar", "syntax": "lark", "definition": "x"},
            },
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
        "text": {"verbosity": "low"},
    }
    sent = encode(decode(body))
    assert sent["input"][3] == {
        "type": "message",
        "role": "assistant",
        "phase": "commentary",
        "content": "running",
    }
    sent["input"][3] = body["input"][3]
    assert sent == body


def test_assistant_text_goes_up_in_the_form_the_sdk_types_and_the_api_takes() -> None:
    """Plain text (string or id-less ``output_text`` list from the app) → string content;
    annotated text with the app's ``msg_`` id → the output message, id/status/annotations."""
    plain = encode(
        decode(
            {
                "model": "m",
                "input": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
                ],
            }
        )
    )
    assert plain["input"][1] == {"type": "message", "role": "assistant", "content": "a"}
    cite = {
        "type": "url_citation",
        "url": "https://x",
        "title": "x",
        "start_index": 0,
        "end_index": 1,
    }
    annotated = encode(
        decode(
            {
                "model": "m",
                "input": [
                    {"role": "user", "content": "q"},
                    {
                        "type": "message",
                        "id": "msg_1",
                        "role": "assistant",
                        "status": "completed",
                        "content": [
                            {"type": "output_text", "text": "a", "annotations": [{**cite}]}
                        ],
                    },
                ],
            }
        )
    )
    assert annotated["input"][1] == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "a", "annotations": [cite]}],
    }
