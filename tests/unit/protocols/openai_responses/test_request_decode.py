"""The app's ``/v1/responses`` body → IR (edges 32, 35, 46, 59, 70, 93, 94)."""

from __future__ import annotations

import base64

import pytest

from crosswire import ir
from tests.unit.protocols.openai_responses.support import decode

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 8).decode()


def test_instructions_become_a_leading_system_message_and_a_string_input_a_user_turn() -> None:
    """Edge 46: ``instructions`` is the system prompt."""
    req = decode({"model": "m", "instructions": "be brief", "input": "hi"})
    assert [m.role for m in req.messages] == ["system", "user"]
    assert req.messages[0].parts == (ir.Text(text="be brief"),)
    assert req.messages[1].parts == (ir.Text(text="hi"),)


def test_developer_and_system_items_keep_their_role_in_order() -> None:
    """Edge 46: developer messages are instructions too, kept where the app put them."""
    req = decode(
        {
            "model": "m",
            "input": [
                {"role": "developer", "content": "rules"},
                {"type": "message", "role": "user", "content": "q"},
                {"role": "system", "content": [{"type": "input_text", "text": "late"}]},
            ],
        }
    )
    assert [m.role for m in req.messages] == ["developer", "user", "system"]


def test_content_parts_decode_to_text_and_files() -> None:
    req = decode(
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {
                            "type": "input_image",
                            "image_url": f"data:image/png;base64,{PNG}",
                            "detail": "high",
                        },
                        {"type": "input_image", "image_url": "https://x/y.jpg", "detail": "auto"},
                        {"type": "input_image", "file_id": "file-1", "detail": "low"},
                        {
                            "type": "input_file",
                            "filename": "a.pdf",
                            "file_data": "data:application/pdf;base64,JVBERi0=",
                        },
                        {"type": "input_file", "file_url": "https://x/doc.pdf"},
                        {"type": "input_file", "file_id": "file-2", "filename": "notes.txt"},
                        {"type": "input_file", "filename": "b.pdf", "file_data": "JVBERi0"},
                    ],
                }
            ],
        }
    )
    text, png, url, fid, pdf, furl, fid2, bare = req.messages[0].parts
    assert text == ir.Text(text="look")
    assert isinstance(png, ir.File) and png.kind == "image" and png.data == PNG
    assert png.media_type == "image/png" and png.native == {"openai-responses": {"detail": "high"}}
    assert isinstance(url, ir.File) and url.url == "https://x/y.jpg"
    assert isinstance(fid, ir.File) and fid.file_id == "file-1"
    assert isinstance(pdf, ir.File) and pdf.kind == "document" and pdf.filename == "a.pdf"
    assert pdf.media_type == "application/pdf" and pdf.data == "JVBERi0="
    assert isinstance(furl, ir.File) and furl.url == "https://x/doc.pdf"
    assert isinstance(fid2, ir.File) and fid2.media_type == "text/plain"
    assert (
        isinstance(bare, ir.File)
        and bare.data == "JVBERi0="
        and bare.media_type == "application/pdf"
    )


def test_assistant_items_form_one_turn_with_reasoning_text_and_calls() -> None:
    """Edge 94: an assistant message mixing output_text and a function_call yields both; the
    ``fc_`` item id stays in native and ``call_id`` is the IR id (edge 26)."""
    req = decode(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"},
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "phase": "commentary",
                    "content": [{"type": "output_text", "text": "calling", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "shell",
                    "arguments": '{"c":1}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "done"},
            ],
        }
    )
    _user, assistant, tool = req.messages
    reasoning, text, call = assistant.parts
    assert reasoning == ir.Reasoning(
        redacted="enc", origin="openai-responses", native={"openai-responses": {"id": "rs_1"}}
    )
    assert text == ir.Text(
        text="calling",
        native={"openai-responses": {"item_id": "msg_1", "phase": "commentary"}},
    )
    assert call == ir.ToolCall(
        id="call_1",
        name="shell",
        arguments='{"c":1}',
        native={"openai-responses": {"id": "fc_1"}},
    )
    assert tool.role == "tool"
    assert tool.parts == (
        ir.ToolResult(call_id="call_1", name="shell", content=(ir.Text(text="done"),)),
    )


def test_reasoning_summary_and_encrypted_content_become_a_text_and_an_opaque_part() -> None:
    """Edge 70: the summary text is shown elsewhere; the encrypted state only goes home."""
    req = decode(
        {
            "model": "m",
            "input": [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [
                        {"type": "summary_text", "text": "first"},
                        {"type": "summary_text", "text": "second"},
                    ],
                    "encrypted_content": "gAAA",
                }
            ],
        }
    )
    text, opaque = req.messages[0].parts
    assert isinstance(text, ir.Reasoning) and text.text == "first\n\nsecond"
    assert text.redacted is None and text.origin == "openai-responses"
    assert isinstance(opaque, ir.Reasoning) and opaque.redacted == "gAAA" and not opaque.text


def test_reasoning_with_an_empty_summary_and_no_state_keeps_the_item() -> None:
    """Edge 94: ``summary: []`` is valid."""
    req = decode({"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": []}]})
    assert req.messages[0].parts == (
        ir.Reasoning(origin="openai-responses", native={"openai-responses": {"id": "rs_1"}}),
    )


def test_function_call_output_may_be_a_list_of_text_and_images() -> None:
    """Edge 94: ``output`` as a list of input_text / input_image."""
    req = decode(
        {
            "model": "m",
            "input": [
                {"type": "function_call", "call_id": "c", "name": "shot", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [
                        {"type": "input_text", "text": "see"},
                        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    ],
                },
            ],
        }
    )
    result = req.messages[1].parts[0]
    assert isinstance(result, ir.ToolResult) and result.name == "shot"
    assert result.content[0] == ir.Text(text="see")
    assert isinstance(result.content[1], ir.File) and result.content[1].kind == "image"


def test_codex_items_beyond_messages_are_kept_whole() -> None:
    """Edge 94: a custom tool call is a call (its text wrapped as ``{"input": text}``) and its
    output a result; item_reference and unknown items → Opaque, never a crash; they join the
    assistant side."""
    items = [
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "ok"},
        {"type": "item_reference", "id": "msg_0"},
        {"type": "tool_search_call", "id": "ts_1"},
    ]
    req = decode({"model": "m", "input": [{"role": "user", "content": "q"}, *items]})
    _user, call, result, rest = req.messages
    assert call.parts == (
        ir.ToolCall(
            id="c1",
            name="apply_patch",
            arguments='{"input": "*** Begin"}',
            native={"openai-responses": {"custom": True}},
        ),
    )
    assert result.parts == (
        ir.ToolResult(
            call_id="c1",
            name="apply_patch",
            content=(ir.Text(text="ok"),),
            native={"openai-responses": {"item_type": "custom_tool_call_output"}},
        ),
    )
    assert rest.role == "assistant"
    assert rest.parts == tuple(ir.Opaque(origin="openai-responses", data=i) for i in items[2:])


def test_tools_are_flat_and_built_in_tools_stay_native() -> None:
    """Edge 35: ``{"type":"function","name",…}`` at the top level; custom tools are free-form
    IR tools; web_search… pass through to a Responses backend only."""
    req = decode(
        {
            "model": "m",
            "input": "q",
            "tools": [
                {
                    "type": "function",
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
                {"type": "function", "function": {"name": "g"}},
                {"type": "web_search"},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
                {"type": "namespace", "name": "mcp", "tools": []},
            ],
        }
    )
    assert req.tools[0] == ir.Tool(
        name="f", description="d", parameters={"type": "object"}, strict=True
    )
    assert req.tools[1].name == "g"
    assert req.tools[2].name == "apply_patch" and req.tools[2].freeform
    assert [t.data["type"] for t in req.native_tools] == ["web_search"]
    assert all(t.origin == "openai-responses" for t in req.native_tools)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("auto", ir.ToolChoice(mode="auto")),
        ("none", ir.ToolChoice(mode="none")),
        ("required", ir.ToolChoice(mode="required")),
        ({"type": "function", "name": "f"}, ir.ToolChoice(mode="tool", name="f")),
    ],
)
def test_tool_choice_maps_to_the_ir(wire: object, expected: ir.ToolChoice) -> None:
    """Edge 32: the Responses column of the mapping table."""
    assert decode({"model": "m", "input": "q", "tool_choice": wire}).tool_choice == expected


def test_other_tool_choice_objects_stay_native() -> None:
    choice = {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]}
    req = decode({"model": "m", "input": "q", "tool_choice": choice})
    assert req.tool_choice is None
    assert req.native["openai-responses"]["tool_choice"] == choice


def test_text_format_json_schema_keeps_name_strict_and_schema_at_its_level() -> None:
    """Edge 59."""
    req = decode(
        {
            "model": "m",
            "input": "q",
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "person",
                    "strict": True,
                    "schema": {"type": "object"},
                },
                "verbosity": "low",
            },
        }
    )
    assert req.response_format == ir.ResponseFormat(
        type="json_schema", name="person", strict=True, schema={"type": "object"}
    )
    assert req.verbosity == "low"
    assert "openai-responses" not in req.native
    json_object = decode({"model": "m", "input": "q", "text": {"format": {"type": "json_object"}}})
    assert json_object.response_format == ir.ResponseFormat(type="json_object")


def test_parameters_reasoning_and_unknown_fields() -> None:
    req = decode(
        {
            "model": "gpt-5",
            "input": "q",
            "reasoning": {"effort": "high", "summary": "auto"},
            "max_output_tokens": 500,
            "temperature": 1,
            "top_p": 0.5,
            "parallel_tool_calls": False,
            "stream": True,
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "k",
            "service_tier": "flex",
            "safety_identifier": "u-1",
            "metadata": {"a": "b"},
        }
    )
    assert req.reasoning == ir.ReasoningConfig(
        enabled=True, effort="high", summary="auto", include_thoughts=True
    )
    assert req.params == ir.Params(max_tokens=500, temperature=1.0, top_p=0.5)
    assert req.parallel_tool_calls is False and req.stream is True and req.user == "u-1"
    assert (req.prompt_cache_key, req.service_tier, req.safety_identifier) == ("k", "flex", "u-1")
    assert req.native["openai-responses"] == {
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "metadata": {"a": "b"},
    }


def test_reasoning_effort_none_turns_thinking_off() -> None:
    req = decode({"model": "m", "input": "q", "reasoning": {"effort": "none"}})
    assert req.reasoning == ir.ReasoningConfig(enabled=False, effort="none")


@pytest.mark.parametrize(
    "field",
    [("previous_response_id", "resp_1"), ("conversation", "conv_1"), ("prompt", {"id": "p"})],
)
def test_server_side_state_is_refused_with_a_400_naming_the_field(
    field: tuple[str, object],
) -> None:
    """Edge 93: a stateless converter cannot serve stored responses; the message says how."""
    name, value = field
    with pytest.raises(ir.UnsupportedFeature) as caught:
        decode({"model": "m", "input": "q", name: value})
    assert caught.value.param == name and caught.value.status == 400
    assert "store: false" in str(caught.value) and name in str(caught.value)


def test_background_mode_is_refused() -> None:
    with pytest.raises(ir.UnsupportedFeature, match="background"):
        decode({"model": "m", "input": "q", "background": True})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 5}, "input"),
        ({"input": [3]}, "input[0]"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        ({"input": [{"type": "function_call", "name": 3}]}, "input[0].name"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": "q", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"input": "q", "tool_choice": "always"}, "tool_choice"),
        ({"input": "q", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"input": "q", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": "q", "include": 1.0}, "include"),
        ({"input": "q", "store": "yes"}, "store"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0]",
        ),
    ],
)
def test_wrong_shapes_are_a_400_naming_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(ir.ClientRequestError) as caught:
        decode({"model": "m", **body})
    assert caught.value.param == param


def test_function_call_without_call_id_gets_a_stable_derived_id() -> None:
    body = {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}
    first = decode(body).messages[0].parts[0]
    assert isinstance(first, ir.ToolCall) and first.id.startswith("call_")
    assert decode(body).messages[0].parts[0] == first
