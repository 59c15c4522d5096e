"""Encoding the upstream request for OpenAI and each compatible dialect."""

from __future__ import annotations

import json

import pytest

from crosswire import ir
from crosswire.protocols.base import Target
from tests.unit.protocols.openai_chat.support import (
    C,
    decode_request,
    encode_request,
    user,
)

PNG = "iVBORw0KGgo="


def _tool_turns(call_id: str = "toolu_01ABCdef") -> tuple[ir.Message, ...]:
    return (
        user("q"),
        ir.Message(role="assistant", parts=(ir.ToolCall(id=call_id, name="f", arguments="{}"),)),
        ir.Message(
            role="tool",
            parts=(ir.ToolResult(call_id=call_id, name="f", content=(ir.Text(text="r"),)),),
        ),
        user("more"),
    )


def test_openai_uses_max_completion_tokens_and_keeps_developer() -> None:
    """EDGE 46, 80 in docs/edge-cases.md."""
    request = ir.Request(
        model="app-model",
        messages=(ir.Message(role="developer", parts=(ir.Text(text="be brief"),)), user("q")),
        params=ir.Params(max_tokens=500),
    )
    body = encode_request(request, model="gpt-5")
    assert body["model"] == "gpt-5" and body["max_completion_tokens"] == 500
    assert "max_tokens" not in body
    assert body["messages"][0] == {"role": "developer", "content": "be brief"}


@pytest.mark.parametrize("dialect", ["mistral", "deepseek", "vllm", "generic"])
def test_compatible_servers_use_max_tokens_and_system(dialect: str) -> None:
    """EDGE 46: developer → system where the server has no developer role."""
    request = ir.Request(
        model="m",
        messages=(ir.Message(role="developer", parts=(ir.Text(text="d"),)), user("q")),
        params=ir.Params(max_tokens=10),
    )
    report = ir.Report()
    body = encode_request(request, dialect, report)
    assert body["max_tokens"] == 10 and "max_completion_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "d"}
    assert ("renamed", "developer") in [(n.action, n.field) for n in report.notes]


def test_azure_path_query_and_no_model_in_body() -> None:
    request = ir.Request(model="m", messages=(user("q"),))
    up = C.encode_request(
        request, Target(protocol="openai-chat", model="deploy-1", dialect="azure"), ir.Report()
    )
    assert up.path == "/openai/deployments/deploy-1/chat/completions"
    assert up.query == {"api-version": "2024-10-21"}
    assert "model" not in json.loads(up.body)
    up = C.encode_request(
        request,
        Target(protocol="openai-chat", model="d", dialect="azure", api_version="2025-01-01"),
        ir.Report(),
    )
    assert up.query == {"api-version": "2025-01-01"}


@pytest.mark.parametrize("dialect", ["openai", "deepseek", "vllm", "generic", "mistral"])
def test_path_is_chat_completions(dialect: str) -> None:
    up = C.encode_request(
        ir.Request(model="m", messages=(user("q"),)),
        Target(protocol="openai-chat", model="m", dialect=dialect),
        ir.Report(),
    )
    assert up.path == "/chat/completions" and up.headers["content-type"] == "application/json"


def test_streaming_always_asks_for_usage_upstream() -> None:
    """EDGE 24: the app did not ask, the upstream is asked anyway."""
    request = ir.Request(
        model="m",
        messages=(user("q"),),
        stream=True,
        include_usage=False,
        native={"openai-chat": {"stream_options": {"include_obfuscation": False}}},
    )
    body = encode_request(request)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_mistral_dialect_ids_seed_names_and_tool_user_order() -> None:
    """EDGE 28, 43, 51: 9-alphanumeric ids mapped the same way for calls and results,
    random_seed, no names, a placeholder assistant between tool and user, no stream_options."""
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(role="user", parts=(ir.Text(text="q"),), name="alice"),
            *_tool_turns()[1:],
        ),
        params=ir.Params(seed=7),
        stream=True,
        user="u",
    )
    report = ir.Report()
    body = encode_request(request, "mistral", report)
    call_id = body["messages"][1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum()
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": "r",
        "name": "f",
    }
    assert [m["role"] for m in body["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert body["messages"][3]["content"]
    assert "name" not in body["messages"][0]
    assert body["random_seed"] == 7 and "seed" not in body
    assert "stream_options" not in body and "user" not in body
    assert {"name", "user"} <= set(report.dropped_fields)
    assert "assistant message" in [n.field for n in report.notes if n.action == "invented"]


def test_mistral_drops_fields_it_does_not_know_and_keeps_its_own() -> None:
    request = decode_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "q"}],
            "safe_prompt": True,
            "store": True,
            "verbosity": "low",
            "prompt_mode": "reasoning",
        }
    )
    report = ir.Report()
    body = encode_request(request, "mistral", report)
    assert body["safe_prompt"] is True and body["prompt_mode"] == "reasoning"
    assert "store" not in body and "verbosity" not in body
    assert {"store", "verbosity"} <= set(report.dropped_fields)
    openai_report = ir.Report()
    openai_body = encode_request(request, "openai", openai_report)
    assert "safe_prompt" not in openai_body and openai_body["store"] is True
    assert "safe_prompt" in openai_report.dropped_fields


def test_one_tool_message_per_result_right_after_the_assistant() -> None:
    """EDGE 37: an IR tool message with two results becomes two ``role:"tool"`` messages."""
    request = ir.Request(
        model="m",
        messages=(
            user("q"),
            ir.Message(
                role="assistant",
                parts=(
                    ir.ToolCall(id="a", name="f", arguments='{"x":1}'),
                    ir.ToolCall(id="b", name="g", arguments=""),
                ),
            ),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(call_id="a", content=(ir.Text(text="1"),)),
                    ir.ToolResult(call_id="b", content=(ir.Text(text="2"),)),
                ),
            ),
            user("thanks"),
        ),
    )
    messages = encode_request(request)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        ],
    }
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
        {"role": "user", "content": "thanks"},
    ]


def test_tool_error_result_is_prefixed_never_a_key() -> None:
    """EDGE 40."""
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(role="assistant", parts=(ir.ToolCall(id="c1", name="f", arguments="{}"),)),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(call_id="c1", is_error=True, content=(ir.Text(text="boom"),)),
                ),
            ),
            ir.Message(
                role="tool", parts=(ir.ToolResult(call_id="c1", is_error=True, content=()),)
            ),
        ),
    )
    body = encode_request(request)
    assert body["messages"][1] == {"role": "tool", "tool_call_id": "c1", "content": "Error: boom"}
    assert body["messages"][2]["content"] == "Error"
    assert "is_error" not in json.dumps(body)


def test_tool_result_files_follow_in_the_next_user_message() -> None:
    """EDGE 41: images (and PDFs) of tool results move to a user message after all the tool
    messages, merged into the user turn that follows when there is one."""
    image = ir.File(kind="image", media_type="image/png", data=PNG)
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(
                role="assistant",
                parts=(
                    ir.ToolCall(id="c1", name="shot", arguments="{}"),
                    ir.ToolCall(id="c2", name="shot", arguments="{}"),
                ),
            ),
            ir.Message(role="tool", parts=(ir.ToolResult(call_id="c1", content=(image,)),)),
            ir.Message(
                role="tool",
                parts=(ir.ToolResult(call_id="c2", content=(ir.Text(text="ok"), image)),),
            ),
            user("what do you see?"),
        ),
    )
    report = ir.Report()
    messages = encode_request(request, report=report)["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "tool", "user"]
    assert "attached" in messages[1]["content"] and messages[2]["content"] == "ok"
    assert [p["type"] for p in messages[3]["content"]] == ["image_url", "image_url", "text"]
    assert "tool_result files" in [n.field for n in report.notes if n.action == "moved"]
    alone = encode_request(ir.Request(model="m", messages=request.messages[:2]))["messages"]
    assert alone[-1]["role"] == "user" and alone[-1]["content"][0]["type"] == "image_url"


def test_mistral_gets_a_placeholder_before_tool_result_images() -> None:
    """EDGE 41 + 43 together."""
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(role="assistant", parts=(ir.ToolCall(id="c1", name="f", arguments="{}"),)),
            ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(
                        call_id="c1",
                        content=(ir.File(kind="image", media_type="image/png", data=PNG),),
                    ),
                ),
            ),
        ),
    )
    roles = [m["role"] for m in encode_request(request, "mistral")["messages"]]
    assert roles == ["assistant", "tool", "assistant", "user"]


def test_empty_assistant_text_with_calls_is_null_and_never_a_space() -> None:
    """EDGE 49, 50."""
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(role="assistant", parts=(ir.ToolCall(id="c", name="f", arguments="{}"),)),
            ir.Message(role="assistant", parts=()),
        ),
    )
    messages = encode_request(request)["messages"]
    assert messages[0]["content"] is None and messages[1]["content"] == ""


def test_ids_over_forty_characters_are_shortened_consistently() -> None:
    long_id = "fc_" + "a" * 60
    body = encode_request(ir.Request(model="m", messages=_tool_turns(long_id)))
    call_id = body["messages"][1]["tool_calls"][0]["id"]
    assert len(call_id) <= 40 and body["messages"][2]["tool_call_id"] == call_id
    unsafe = encode_request(ir.Request(model="m", messages=_tool_turns("functions.Bash:0")))
    assert unsafe["messages"][1]["tool_calls"][0]["id"] == unsafe["messages"][2]["tool_call_id"]


@pytest.mark.parametrize("dialect", ["deepseek", "vllm"])
def test_foreign_reasoning_text_becomes_reasoning_content_for_deepseek_and_vllm(
    dialect: str,
) -> None:
    """EDGE 66: DeepSeek wants reasoning_content back on assistant turns with tool calls; the
    Anthropic signature stays behind."""
    request = ir.Request(
        model="m",
        messages=(
            user("q"),
            ir.Message(
                role="assistant",
                parts=(
                    ir.Reasoning(text="hmm", signature="SIG", origin="anthropic"),
                    ir.ToolCall(id="t1", name="f", arguments="{}"),
                ),
            ),
        ),
    )
    report = ir.Report()
    body = encode_request(request, dialect, report)
    assert body["messages"][1]["reasoning_content"] == "hmm"
    assert "SIG" not in json.dumps(body)
    assert "reasoning signature" in report.dropped_fields


@pytest.mark.parametrize("dialect", ["openai", "azure", "generic", "mistral"])
def test_foreign_reasoning_is_dropped_with_a_note_elsewhere(dialect: str) -> None:
    request = ir.Request(
        model="m",
        messages=(
            user("q"),
            ir.Message(
                role="assistant",
                parts=(ir.Reasoning(text="hmm", origin="gemini"), ir.Text(text="a")),
            ),
        ),
    )
    report = ir.Report()
    body = encode_request(request, dialect, report)
    assert body["messages"][1] == {"role": "assistant", "content": "a"}
    assert "reasoning" in report.dropped_fields


def test_own_reasoning_goes_back_as_the_dialect_carries_it() -> None:
    request = ir.Request(
        model="m",
        messages=(
            user("q"),
            ir.Message(
                role="assistant",
                parts=(ir.Reasoning(text="hmm", origin="openai-chat"), ir.Text(text="144")),
            ),
        ),
    )
    generic = encode_request(request, "generic")["messages"][1]
    assert generic == {"role": "assistant", "content": "144", "reasoning_content": "hmm"}
    mistral = encode_request(request, "mistral")["messages"][1]
    assert mistral["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
        {"type": "text", "text": "144"},
    ]
    openai = encode_request(request, "openai")["messages"][1]
    assert openai == {"role": "assistant", "content": "144"}


def test_refusal_goes_in_its_field_for_openai_and_in_the_text_elsewhere() -> None:
    refusal = ir.Text(text="I can't", native={"openai-chat": {"refusal": True}})
    request = ir.Request(
        model="m", messages=(user("q"), ir.Message(role="assistant", parts=(refusal,)))
    )
    assert encode_request(request)["messages"][1] == {
        "role": "assistant",
        "content": "",
        "refusal": "I can't",
    }
    assert encode_request(request, "vllm")["messages"][1] == {
        "role": "assistant",
        "content": "I can't",
    }


def test_tools_tool_choice_and_parallel_calls() -> None:
    """EDGE 32, 33."""
    request = ir.Request(
        model="m",
        messages=(user("q"),),
        tools=(ir.Tool(name="f"), ir.Tool(name="g", parameters={"type": "object"}, strict=True)),
        tool_choice=ir.ToolChoice(mode="required"),
        parallel_tool_calls=False,
    )
    body = encode_request(request)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
        },
        {
            "type": "function",
            "function": {"name": "g", "parameters": {"type": "object"}, "strict": True},
        },
    ]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert encode_request(request, "mistral")["tool_choice"] == "any"
    named = ir.Request(
        model="m",
        messages=(),
        tools=(ir.Tool(name="f"),),
        tool_choice=ir.ToolChoice(mode="tool", name="f"),
    )
    assert encode_request(named)["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    report = ir.Report()
    nothing = encode_request(
        ir.Request(model="m", messages=(), tool_choice=ir.ToolChoice(mode="required")),
        report=report,
    )
    assert "tool_choice" not in nothing and "tool_choice" in report.dropped_fields


def test_server_tools_of_other_providers_are_dropped_with_a_note() -> None:
    request = ir.Request(
        model="m",
        messages=(),
        native_tools=(
            ir.NativeTool(
                origin="anthropic", data={"type": "web_search_20250305", "name": "web_search"}
            ),
            ir.NativeTool(origin="openai-chat", data={"type": "custom", "custom": {"name": "x"}}),
        ),
    )
    report = ir.Report()
    body = encode_request(request, report=report)
    assert body["tools"] == [{"type": "custom", "custom": {"name": "x"}}]
    assert "tool web_search_20250305" in report.dropped_fields


def test_stop_sequences_are_limited_to_four_for_openai_and_empties_dropped() -> None:
    """EDGE 84."""
    request = ir.Request(
        model="m", messages=(), params=ir.Params(stop=("a", "", "b", "c", "d", "e"))
    )
    report = ir.Report()
    assert encode_request(request, report=report)["stop"] == ["a", "b", "c", "d"]
    assert encode_request(request, "vllm")["stop"] == ["a", "b", "c", "d", "e"]
    assert [n.action for n in report.notes if n.field == "stop"] == ["dropped", "clamped"]


def test_sampling_parameters_per_dialect() -> None:
    """EDGE 82, 85: temperature clamped to 0–2; top_k and min_tokens only where they exist."""
    params = ir.Params(
        temperature=3.0,
        top_p=0.9,
        top_k=40,
        min_tokens=5,
        seed=1,
        n=2,
        presence_penalty=0.5,
        frequency_penalty=0.1,
    )
    request = ir.Request(model="m", messages=(), params=params, user="u")
    report = ir.Report()
    body = encode_request(request, report=report)
    assert body["temperature"] == 2.0 and body["top_p"] == 0.9 and body["seed"] == 1
    assert body["n"] == 2 and body["presence_penalty"] == 0.5 and body["frequency_penalty"] == 0.1
    assert body["user"] == "u" and "top_k" not in body and "min_tokens" not in body
    assert {"top_k", "min_tokens"} <= set(report.dropped_fields)
    vllm = encode_request(request, "vllm")
    assert vllm["top_k"] == 40 and vllm["min_tokens"] == 5


@pytest.mark.parametrize(
    ("config", "dialect", "expected"),
    [
        (ir.ReasoningConfig(enabled=True, effort="high"), "openai", "high"),
        (ir.ReasoningConfig(enabled=True, budget_tokens=3000), "openai", "low"),
        (ir.ReasoningConfig(enabled=True, budget_tokens=30000), "openai", "xhigh"),
        (ir.ReasoningConfig(enabled=False), "openai", "none"),
        (ir.ReasoningConfig(enabled=False), "mistral", "none"),
        (ir.ReasoningConfig(enabled=True, effort="xhigh"), "mistral", "high"),
        (ir.ReasoningConfig(enabled=True), "openai", None),
        (ir.ReasoningConfig(enabled=False), "deepseek", None),
    ],
)
def test_reasoning_effort(config: ir.ReasoningConfig, dialect: str, expected: str | None) -> None:
    body = encode_request(ir.Request(model="m", messages=(), reasoning=config), dialect)
    assert body.get("reasoning_effort") == expected


def test_response_formats() -> None:
    """EDGE 59."""
    schema = ir.ResponseFormat(
        type="json_schema", schema={"type": "object"}, name="out", strict=True
    )
    body = encode_request(ir.Request(model="m", messages=(), response_format=schema))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    unnamed = encode_request(
        ir.Request(model="m", messages=(), response_format=ir.ResponseFormat(type="json_schema"))
    )
    assert unnamed["response_format"]["json_schema"]["name"] == "response"
    json_mode = encode_request(
        ir.Request(model="m", messages=(), response_format=ir.ResponseFormat(type="json_object"))
    )
    assert json_mode["response_format"] == {"type": "json_object"}


def test_system_blocks_join_into_one_string_except_where_arrays_are_safe() -> None:
    """EDGE 44: strict servers reject arrays in system content."""
    system = ir.Message(role="system", parts=(ir.Text(text="a"), ir.Text(text="b")))
    request = ir.Request(model="m", messages=(system, user("q")))
    assert encode_request(request, "deepseek")["messages"][0] == {
        "role": "system",
        "content": "a\nb",
    }
    assert encode_request(request)["messages"][0]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
    ]


def test_content_parts_per_kind() -> None:
    """EDGE 52–55: data URLs, remote URLs, audio, PDFs; plain-text documents inline."""
    parts = (
        ir.Text(text="see"),
        ir.File(
            kind="image",
            media_type="image/png",
            data=PNG,
            native={"openai-chat": {"detail": "high"}},
        ),
        ir.File(kind="image", url="https://x/cat.png"),
        ir.File(kind="audio", media_type="audio/mpeg", data="SUQz"),
        ir.File(kind="document", media_type="application/pdf", data="JVBERi0=", filename="r.pdf"),
        ir.File(kind="document", media_type="text/plain", data="aGVsbG8="),
        ir.File(kind="document", file_id="file-1"),
    )
    request = ir.Request(model="m", messages=(ir.Message(role="user", parts=parts),))
    content = encode_request(request)["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "see"},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"},
        },
        {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "r.pdf"},
        },
        {"type": "text", "text": "hello"},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    mistral = encode_request(request, "mistral")["messages"][0]["content"]
    assert mistral[3] == {"type": "input_audio", "input_audio": "SUQz"}
    assert mistral[4] == {
        "type": "document_url",
        "document_url": "data:application/pdf;base64,JVBERi0=",
        "document_name": "r.pdf",
    }


def test_documents_and_audio_by_url_are_refused_clearly() -> None:
    for part in (
        ir.File(kind="document", url="https://x/a.pdf"),
        ir.File(kind="audio", url="https://x/a.mp3"),
        ir.File(kind="image", file_id="file-1"),
    ):
        request = ir.Request(model="m", messages=(ir.Message(role="user", parts=(part,)),))
        with pytest.raises(ir.UnsupportedFeature):
            encode_request(request)


def test_same_protocol_request_round_trips_through_the_openai_dialect() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "auto",
        "max_completion_tokens": 50,
        "temperature": 0.5,
        "metadata": {"k": "v"},
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    out = encode_request(decode_request(body), model="gpt-4o")
    assert out == body


def test_system_messages_stay_where_they_stand() -> None:
    """EDGE 45: Chat Completions takes system messages anywhere; nothing is hoisted."""
    request = ir.Request(
        model="m",
        messages=(
            ir.Message(role="system", parts=(ir.Text(text="first"),)),
            user("q"),
            ir.Message(role="system", parts=(ir.Text(text="later"),)),
            user("again"),
        ),
    )
    roles = [(m["role"], m["content"]) for m in encode_request(request)["messages"]]
    assert roles == [("system", "first"), ("user", "q"), ("system", "later"), ("user", "again")]


def test_an_unknown_dialect_is_treated_as_a_generic_server() -> None:
    request = ir.Request(
        model="m",
        messages=(ir.Message(role="developer", parts=(ir.Text(text="d"),)),),
        params=ir.Params(max_tokens=5),
        stream=True,
    )
    body = encode_request(request, "groq")
    assert body["max_tokens"] == 5 and body["messages"][0]["role"] == "system"
    assert body["stream_options"] == {"include_usage": True}
