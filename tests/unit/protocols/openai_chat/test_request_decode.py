"""Decoding the app's Chat Completions request: every field lands in the IR or in native."""

from __future__ import annotations

from typing import Any

import pytest

from crosswire import ir
from tests.unit.protocols.openai_chat.support import CALL, C, decode_request

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _user(*content: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(content)}]}


def test_every_parameter_is_decoded() -> None:
    request = decode_request(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 100,
            "max_tokens": 5,
            "temperature": 1,
            "top_p": 0.5,
            "stop": "END",
            "seed": 7,
            "n": 2,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.2,
            "reasoning_effort": "high",
            "stream": True,
            "stream_options": {"include_usage": True, "include_obfuscation": False},
            "user": "u-1",
            "parallel_tool_calls": False,
            "metadata": {"a": "b"},
            "logprobs": True,
            "top_logprobs": 2,
            "store": False,
        }
    )
    assert request.model == "gpt-4o"
    assert request.params == ir.Params(
        max_tokens=100,
        temperature=1.0,
        top_p=0.5,
        stop=("END",),
        seed=7,
        n=2,
        presence_penalty=0.1,
        frequency_penalty=-0.2,
    )
    assert request.reasoning == ir.ReasoningConfig(enabled=True, effort="high")
    assert request.stream and request.include_usage is True
    assert request.user == "u-1" and request.parallel_tool_calls is False
    assert request.native["openai-chat"] == {
        "metadata": {"a": "b"},
        "logprobs": True,
        "top_logprobs": 2,
        "store": False,
        "stream_options": {"include_obfuscation": False},
    }


def test_max_tokens_alone_and_stop_list() -> None:
    request = decode_request(
        {"messages": [], "max_tokens": 0, "stop": ["a", "b"]},
    )
    assert request.params.max_tokens == 0 and request.params.stop == ("a", "b")


def test_reasoning_effort_none_turns_reasoning_off() -> None:
    request = decode_request({"model": "m", "messages": [], "reasoning_effort": "none"})
    assert request.reasoning is not None and request.reasoning.enabled is False


def test_mistral_sdk_extras_become_seed_and_native() -> None:
    request = decode_request(
        {
            "model": "mistral-small-latest",
            "messages": [],
            "random_seed": 42,
            "safe_prompt": True,
            "prediction": {"type": "content", "content": "x"},
            "prompt_mode": "reasoning",
        }
    )
    assert request.params.seed == 42
    assert request.native["openai-chat"] == {
        "safe_prompt": True,
        "prediction": {"type": "content", "content": "x"},
        "prompt_mode": "reasoning",
    }


def test_model_comes_from_the_call_when_the_body_has_none() -> None:
    call = CALL.__class__(protocol="openai-chat", endpoint="generate", model="my-deployment")
    request = C.decode_request(call, b'{"messages":[]}', ir.Report())
    assert request.model == "my-deployment"


def test_text_image_audio_file_and_refusal_parts() -> None:
    request = decode_request(
        _user(
            {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/jpg;base64,{PNG}", "detail": "low"},
            },
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
            {
                "type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
            },
            {"type": "file", "file": {"file_id": "file-abc"}},
            {"type": "refusal", "refusal": "no"},
            {"type": "mystery", "x": 1},
        )
    )
    parts = request.messages[0].parts
    assert parts[0] == ir.Text(
        text="look", native={"openai-chat": {"cache_control": {"type": "ephemeral"}}}
    )
    assert parts[1] == ir.File(
        kind="image", media_type="image/jpeg", data=PNG, native={"openai-chat": {"detail": "low"}}
    )
    assert parts[2] == ir.File(kind="image", url="https://x/cat.png")
    assert parts[3] == ir.File(kind="audio", media_type="audio/mpeg", data="UklGRg==")
    assert parts[4] == ir.File(
        kind="document", media_type="application/pdf", data="JVBERi0=", filename="a.pdf"
    )
    assert parts[5] == ir.File(kind="document", file_id="file-abc")
    assert parts[6] == ir.Text(text="no", native={"openai-chat": {"refusal": True}})
    assert parts[7] == ir.Opaque(origin="openai-chat", data={"type": "mystery", "x": 1})


def test_bare_base64_file_data_is_sniffed() -> None:
    """Some SDKs send file_data without the data: prefix."""
    request = decode_request(
        _user({"type": "file", "file": {"file_data": PNG, "filename": "x.bin"}})
    )
    part = request.messages[0].parts[0]
    assert isinstance(part, ir.File) and part.media_type == "image/png" and part.kind == "image"


def test_mistral_chunks_image_string_audio_string_and_document_url() -> None:
    request = decode_request(
        _user(
            {"type": "image_url", "image_url": "https://x/a.jpeg"},
            {"type": "input_audio", "input_audio": "UklGRg=="},
            {"type": "document_url", "document_url": "https://x/a.pdf", "document_name": "a.pdf"},
        )
    )
    assert request.messages[0].parts == (
        ir.File(kind="image", url="https://x/a.jpeg"),
        ir.File(kind="audio", media_type="audio/wav", data="UklGRg=="),
        ir.File(kind="document", url="https://x/a.pdf", filename="a.pdf"),
    )


def test_assistant_tool_calls_and_tool_results_carry_the_function_name() -> None:
    """docs/codecs.md: ToolResult.name is filled from the earlier call."""
    request = decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": {"b": 2}},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r1"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "r2"}]},
            ]
        }
    )
    assistant, r1, r2 = request.messages
    assert assistant.parts == (
        ir.ToolCall(id="c1", name="f", arguments='{"a": 1}'),
        ir.ToolCall(id="c2", name="g", arguments='{"b": 2}'),
    )
    assert r1.parts == (ir.ToolResult(call_id="c1", name="f", content=(ir.Text(text="r1"),)),)
    assert r2.parts == (ir.ToolResult(call_id="c2", name="g", content=(ir.Text(text="r2"),)),)


def test_tool_call_without_id_gets_a_stable_derived_id() -> None:
    body = {
        "messages": [
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}
        ]
    }
    first = decode_request(body).messages[0].parts[0]
    assert isinstance(first, ir.ToolCall) and first.id.startswith("call_")
    assert decode_request(body).messages[0].parts[0] == first


def test_legacy_function_call_and_function_role_pair_up() -> None:
    request = decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "f", "arguments": "{}"},
                },
                {"role": "function", "name": "f", "content": "done"},
            ],
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"},
        }
    )
    call = request.messages[0].parts[0]
    result = request.messages[1].parts[0]
    assert isinstance(call, ir.ToolCall) and isinstance(result, ir.ToolResult)
    assert result.call_id == call.id and result.name == "f" and request.messages[1].role == "tool"
    assert request.tools == (ir.Tool(name="f", parameters={"type": "object"}),)
    assert request.tool_choice == ir.ToolChoice(mode="tool", name="f")


def test_assistant_reasoning_content_refusal_and_names() -> None:
    request = decode_request(
        {
            "messages": [
                {"role": "system", "content": "s", "name": "sys"},
                {"role": "developer", "content": [{"type": "text", "text": "d"}]},
                {"role": "user", "content": "q", "name": "alice", "x_extra": 1},
                {
                    "role": "assistant",
                    "content": "a",
                    "reasoning_content": "think",
                    "refusal": "nope",
                },
                {"role": "assistant", "content": "b", "reasoning": "openrouter"},
            ]
        }
    )
    system, developer, usr, a1, a2 = request.messages
    assert system == ir.Message(role="system", parts=(ir.Text(text="s"),), name="sys")
    assert developer.role == "developer" and developer.parts == (ir.Text(text="d"),)
    assert usr.name == "alice" and usr.native == {"openai-chat": {"x_extra": 1}}
    assert a1.parts == (
        ir.Reasoning(text="think", origin="openai-chat"),
        ir.Text(text="a"),
        ir.Text(text="nope", native={"openai-chat": {"refusal": True}}),
    )
    assert a2.parts[0] == ir.Reasoning(text="openrouter", origin="openai-chat")


def test_thinking_blocks_carrier_wins_over_reasoning_content() -> None:
    """EDGE 61, 63: signed and redacted reasoning come home through an OpenAI client."""
    request = decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "a",
                    "reasoning_content": "t",
                    "thinking_blocks": [
                        {
                            "type": "thinking",
                            "thinking": "t",
                            "signature": "SIG",
                            "provider": "anthropic",
                        },
                        {"type": "redacted_thinking", "data": "OPAQUE", "provider": "anthropic"},
                    ],
                }
            ]
        }
    )
    assert request.messages[0].parts[:2] == (
        ir.Reasoning(text="t", signature="SIG", origin="anthropic"),
        ir.Reasoning(redacted="OPAQUE", origin="anthropic"),
    )


def test_mistral_thinking_chunks_in_history_are_reasoning() -> None:
    request = decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "144"},
                    ],
                }
            ]
        }
    )
    assert request.messages[0].parts == (
        ir.Reasoning(text="hmm", origin="openai-chat"),
        ir.Text(text="144"),
    )


def test_tools_native_tools_tool_choice_and_response_format() -> None:
    request = decode_request(
        {
            "messages": [],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "d",
                        "parameters": {"type": "object"},
                        "strict": True,
                    },
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "custom", "custom": {"name": "apply_patch"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "out", "strict": True, "schema": {"type": "object"}},
            },
        }
    )
    assert request.tools == (
        ir.Tool(
            name="f",
            description="d",
            parameters={"type": "object"},
            strict=True,
            native={"openai-chat": {"cache_control": {"type": "ephemeral"}}},
        ),
    )
    assert request.native_tools == (
        ir.NativeTool(
            origin="openai-chat", data={"type": "custom", "custom": {"name": "apply_patch"}}
        ),
    )
    assert request.tool_choice == ir.ToolChoice(mode="tool", name="f")
    assert request.response_format == ir.ResponseFormat(
        type="json_schema", schema={"type": "object"}, name="out", strict=True
    )


@pytest.mark.parametrize(
    ("value", "mode"),
    [("auto", "auto"), ("none", "none"), ("required", "required"), ("any", "required")],
)
def test_tool_choice_strings(value: str, mode: str) -> None:
    """EDGE 32: the string modes, and Mistral's ``any``."""
    request = decode_request({"messages": [], "tool_choice": value})
    assert request.tool_choice == ir.ToolChoice(mode=mode)  # type: ignore[arg-type]


def test_json_object_format() -> None:
    request = decode_request({"messages": [], "response_format": {"type": "json_object"}})
    assert request.response_format == ir.ResponseFormat(type="json_object")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"", None),
        (b"[1]", None),
        (b'{"messages": 5}', "messages"),
        (b'{"messages": [{"role": "wizard"}]}', "messages[0].role"),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            "messages[0].content[0].image_url.url",
        ),
        (b'{"messages": [{"role": "user", "content": 3}]}', "messages[0].content"),
        (b'{"messages": [{"role": "tool", "content": "x"}]}', "messages[0].tool_call_id"),
        (b'{"messages": [], "temperature": "hot"}', "temperature"),
        (b'{"messages": [], "max_tokens": true}', "max_tokens"),
        (b'{"messages": [], "stop": [1]}', "stop[0]"),
        (b'{"messages": [], "tool_choice": "sometimes"}', "tool_choice"),
        (b'{"messages": [], "tools": [{"type": "function"}]}', "tools[0].function"),
        (b'{"messages": [], "response_format": {"type": "yaml"}}', "response_format.type"),
        (
            b'{"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]}',
            "messages[0].tool_calls[0].function.name",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}',
            "messages[0].content[0].file",
        ),
    ],
)
def test_bad_requests_are_client_errors_naming_the_field(body: bytes, param: str | None) -> None:
    with pytest.raises(ir.ClientRequestError) as caught:
        C.decode_request(CALL, body, ir.Report())
    if param is not None:
        assert caught.value.param == param
