"""Cross-protocol edge cases of docs/edge-cases.md (numbered as there), through the same
``convert.Exchange`` the proxy uses (decode the app's body, encode for the backend)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target

VARIANT = {"ollama": "chat", "fim": "fim", "openai-completions": "completions"}


def convert(
    client: str,
    backend: str,
    body: dict[str, Any],
    *,
    dialect: str = "openai",
    model: str = "target-model",
) -> tuple[dict[str, Any], ir.Report]:
    call = ClientCall(
        protocol=client,
        endpoint="generate",
        variant=VARIANT.get(client),  # type: ignore[arg-type]
        model="gem" if client == "gemini" else None,
    )
    ex = Exchange(
        call=call,
        client=codec(client),
        backend=codec(backend),  # type: ignore[arg-type]
        target=Target(protocol=backend, model=model, dialect=dialect),
    )  # type: ignore[arg-type]
    ex.decode(json.dumps(body).encode())
    up = ex.encode()
    return json.loads(up.body), ex.report


def test_42_orphan_calls_and_results_are_dropped_with_a_note() -> None:
    body, report = convert(
        "openai-chat",
        "anthropic",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "user", "content": "trimmed history lost the result"},
                {"role": "tool", "tool_call_id": "ghost", "content": "orphan"},
                {"role": "user", "content": "go on"},
            ],
        },
    )
    assert "tool_use" not in json.dumps(body) and "tool_result" not in json.dumps(body)
    assert {"orphan tool calls", "orphan tool results"} <= set(report.dropped_fields)


def test_44_87_anthropic_system_blocks_keep_cache_control_only_for_anthropic() -> None:
    request = {
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "big prompt", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    to_anthropic, _ = convert("anthropic", "anthropic", request)
    assert to_anthropic["system"][0]["cache_control"] == {"type": "ephemeral"}
    to_openai, _ = convert("anthropic", "openai-chat", request)
    assert to_openai["messages"][0] == {"role": "system", "content": "big prompt"}


def test_47_48_consecutive_turns_merge_and_the_first_turn_is_user() -> None:
    body, report = convert(
        "openai-chat",
        "anthropic",
        {
            "model": "m",
            "messages": [
                {"role": "assistant", "content": "I start"},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
            ],
        },
    )
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"] and len(body["messages"][2]["content"]) == 2
    assert "first user message" in [n.field for n in report.notes]
    gemini, _ = convert(
        "openai-chat",
        "gemini",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        },
    )
    assert [c["role"] for c in gemini["contents"]] == ["user"]


def test_50_51_empty_content_with_tool_calls_and_no_name_for_anthropic() -> None:
    body, _ = convert(
        "openai-chat",
        "anthropic",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q", "name": "alice"},
                {
                    "role": "assistant",
                    "content": [],
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ],
        },
    )
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    ]
    assert "name" not in body["messages"][0]


def test_53_55_urls_and_audio() -> None:
    url_image = {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                ],
            }
        ],
    }
    body, _ = convert("openai-chat", "anthropic", url_image)
    assert body["messages"][0]["content"][0]["source"] == {
        "type": "url",
        "url": "https://example.com/cat.png",
    }
    with pytest.raises(ir.UnsupportedFeature, match="base64"):
        convert("openai-chat", "ollama", url_image)
    with pytest.raises(ir.UnsupportedFeature, match="audio"):
        convert(
            "openai-chat",
            "anthropic",
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {"data": "UklGRg==", "format": "wav"},
                            }
                        ],
                    }
                ],
            },
        )


def test_61_63_signed_and_redacted_thinking_come_home_through_an_openai_client() -> None:
    body, report = convert(
        "openai-chat",
        "anthropic",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "a",
                    "reasoning_content": "thought",
                    "thinking_blocks": [
                        {
                            "type": "thinking",
                            "thinking": "thought",
                            "signature": "SIG==",
                            "provider": "anthropic",
                        },
                        {"type": "redacted_thinking", "data": "OPAQUE", "provider": "anthropic"},
                    ],
                },
                {"role": "user", "content": "more"},
            ],
        },
    )
    blocks = body["messages"][1]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "thought", "signature": "SIG=="}
    assert blocks[1] == {"type": "redacted_thinking", "data": "OPAQUE"}
    unsigned, report = convert(
        "openai-chat",
        "anthropic",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "reasoning_content": "t"},
                {"role": "user", "content": "more"},
            ],
        },
    )
    assert all(b["type"] != "thinking" for b in unsigned["messages"][1]["content"])
    assert "reasoning" in report.dropped_fields


def test_66_reasoning_content_is_echoed_for_deepseek() -> None:
    body, _ = convert(
        "anthropic",
        "openai-chat",
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}],
                },
            ],
        },
        dialect="deepseek",
    )
    assert body["messages"][1]["reasoning_content"] == "hmm"


def test_80_85_limits_and_n() -> None:
    body, _ = convert(
        "anthropic",
        "openai-chat",
        {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "q"}]},
    )
    assert body["max_completion_tokens"] == 500
    gem, _ = convert(
        "anthropic",
        "gemini",
        {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "q"}]},
    )
    assert gem["generationConfig"]["maxOutputTokens"] == 500
    with pytest.raises(ir.UnsupportedFeature, match="'n'"):
        convert(
            "openai-chat",
            "anthropic",
            {"model": "m", "n": 3, "messages": [{"role": "user", "content": "q"}]},
        )


def test_94_codex_items_become_tool_turns() -> None:
    body, _ = convert(
        "openai-responses",
        "openai-chat",
        {
            "model": "m",
            "store": False,
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "shell",
                    "arguments": '{"c":1}',
                },
                {
                    "type": "function_call_output",
                    "call_id": "call_1",
                    "output": [{"type": "input_text", "text": "done"}],
                },
            ],
        },
    )
    assistant = body["messages"][1]
    assert assistant["tool_calls"][0]["id"] == "call_1" and assistant["content"] == "calling"
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "done"}
