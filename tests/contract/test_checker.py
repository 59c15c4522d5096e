"""The contract check itself: a field the provider does not know, or a missing required one,
is caught — in a real converted request or answer of every protocol, not just in toy types."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal, Required, TypedDict

import pytest

from tests.contract.cases import (
    AnswerCase,
    RequestCase,
    app_answer,
    upstream_request,
)
from tests.contract.checker import Checker
from tests.contract.sdk_types import (
    answer_violations,
    request_violations,
    sse_events,
)


class _Inner(TypedDict, total=False):
    type: Required[Literal["a"]]
    n: int


class _Other(TypedDict, total=False):
    type: Required[Literal["b"]]
    s: str


class _Outer(TypedDict, total=False):
    items: Required[Iterable[_Inner | _Other]]
    flag: bool | None


def test_checker_is_strict_about_unknown_missing_and_types() -> None:
    check = Checker().check
    assert check({"items": [{"type": "a", "n": 1}, {"type": "b"}]}, _Outer) == []
    assert check({"items": [], "x": 1}, _Outer) == ["$.x: unknown field (not in _Outer)"]
    assert check({}, _Outer) == ["$.items: required field missing (in _Outer)"]
    # Iterable is checked eagerly, and a union reports its closest member (by ``type``).
    assert check({"items": [{"type": "b", "s": 1}]}, _Outer) == [
        "$.items[0].s: expected a string, got 1"
    ]
    assert check({"items": [], "flag": 1}, _Outer) == ["$.flag: expected a boolean, got 1"]
    assert check({"items": [{"type": "c"}]}, _Outer)  # no member fits


_REQUESTS = [
    ("openai_chat/nonstream_tool_call", "openai-chat", "openai", "messages"),
    ("openai_chat/nonstream_tool_call", "openai-chat", "mistral", "messages"),
    ("anthropic/stream_thinking_then_tool_use", "openai-responses", "openai", None),
    ("openai_chat/nonstream_tool_call", "anthropic", "openai", "max_tokens"),
    ("openai_chat/nonstream_tool_call", "gemini", "openai", None),
    ("openai_chat/nonstream_tool_call", "ollama", "openai", "model"),
    ("mistral/fim_nonstream_codestral2501", "fim", "openai", "prompt"),
    ("mistral/fim_nonstream_codestral2501", "openai-completions", "openai", "prompt"),
]


@pytest.mark.parametrize(("fixture", "backend", "dialect", "required"), _REQUESTS)
def test_an_unknown_or_missing_request_field_is_caught(
    fixture: str, backend: str, dialect: str, required: str | None
) -> None:
    up = upstream_request(RequestCase(fixture, backend, dialect))  # type: ignore[arg-type]

    def violations(body: dict[str, Any]) -> list[str]:
        return request_violations(
            backend,
            path=up.path,
            body=json.dumps(body).encode(),
            stream=up.stream,
            headers=up.headers,
            query=up.query,
            dialect=dialect,
        )

    body = json.loads(up.body)
    assert violations(body) == []
    extra = violations({**body, "crosswire_extra": 1})
    assert len(extra) == 1 and extra[0].startswith("$.crosswire_extra: unknown field")
    items = body.get("messages") or body.get("contents") or body.get("input")
    if isinstance(items, list):
        nested = json.loads(json.dumps(body))
        (nested.get("messages") or nested.get("contents") or nested["input"])[0]["zz"] = 1
        assert any("[0].zz: unknown field" in v for v in violations(nested))
    if required:
        missing = {k: v for k, v in body.items() if k != required}
        assert any(f"$.{required}: required field missing" in v for v in violations(missing))


def test_anthropic_version_decides_which_fields_are_allowed() -> None:
    up = upstream_request(RequestCase("openai_chat/nonstream_tool_call", "anthropic", "openai"))
    body = {**json.loads(up.body), "temperature": 0.5}

    def violations(version: str) -> list[str]:
        return request_violations(
            "anthropic",
            path=up.path,
            body=json.dumps(body).encode(),
            stream=up.stream,
            headers={"anthropic-version": version},
        )

    assert violations("2023-06-01") == []  # sampling parameters exist in the older version
    assert violations("2026-10-21") == [
        "$.temperature: unknown field (not in MessageCreateParamsNonStreaming)"
    ]
    assert violations("2024-01-01")[0] == (
        "header anthropic-version: '2024-01-01' is not a known API version"
    )


_ANSWERS = [
    AnswerCase("anthropic/stream_text_basic", "openai-chat", "openai", None, "stream"),
    AnswerCase("anthropic/stream_text_basic", "openai-chat", "mistral", None, "stream"),
    AnswerCase("openai_chat/nonstream_tool_call", "anthropic", "openai", None, "whole"),
    AnswerCase("openai_chat/stream_text_no_usage", "anthropic", "openai", None, "stream"),
    AnswerCase("anthropic/nonstream_text_basic", "gemini", "openai", None, "whole"),
    AnswerCase("anthropic/stream_text_basic", "gemini", "openai", "sse", "stream"),
    AnswerCase("anthropic/stream_text_basic", "fim", "mistral", "fim", "stream"),
    AnswerCase(
        "anthropic/nonstream_text_basic", "openai-completions", "openai", "completions", "whole"
    ),
    AnswerCase("anthropic/stream_text_basic", "ollama", "openai", "chat", "stream"),
]


@pytest.mark.parametrize("case", _ANSWERS, ids=[c.id for c in _ANSWERS])
def test_an_unknown_answer_field_is_caught(case: AnswerCase) -> None:
    body = app_answer(case)

    def violations(raw: bytes) -> list[str]:
        return answer_violations(
            case.client, raw, stream=case.stream, dialect=case.dialect, variant=case.variant
        )

    assert violations(body) == []
    if not case.stream:
        assert any("$.zz: unknown field" in v for v in violations(_add_field(body)))
    elif case.client == "ollama":
        first, _, rest = body.partition(b"\n")
        assert any(
            "line0.zz: unknown field" in v for v in violations(_add_field(first) + b"\n" + rest)
        )
    else:
        name, data = sse_events(body)[0]
        edited = json.dumps({**json.loads(data), "zz": 1})
        event = (f"event: {name}\n" if name else "") + f"data: {edited}\n\n"
        rest = re.split(rb"\r?\n\r?\n", body, maxsplit=1)[1]
        assert any("event0.zz: unknown field" in v for v in violations(event.encode() + rest))


def _add_field(raw: bytes) -> bytes:
    return json.dumps({**json.loads(raw), "zz": 1}).encode()


def test_the_extension_allow_list_is_narrow() -> None:
    """crosswire's chat reasoning keys pass only on a message/delta that holds reasoning;
    ``store`` only on a Response object; anywhere else they are unknown fields."""
    message = {"role": "assistant", "content": "hi", "refusal": None}
    whole = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": message}],
    }

    def chat(**extra: Any) -> list[str]:
        body = {**whole, "choices": [{**whole["choices"][0], "message": {**message, **extra}}]}
        return answer_violations("openai-chat", json.dumps(body).encode(), stream=False)

    block = {"type": "thinking", "thinking": "t", "signature": "s", "provider": "anthropic"}
    assert chat(reasoning_content="why", thinking_blocks=[block]) == []
    assert chat(reasoning_content="") == [
        "$.choices[0].message.reasoning_content: unknown field (not in ChatCompletionMessage)"
    ]
    assert chat(thinking_blocks=[{**block, "extra": 1}])
    mistral = {**whole, "choices": [{**whole["choices"][0], "message": {**message}}]}
    mistral["choices"][0]["message"]["reasoning_content"] = "why"
    assert answer_violations(
        "openai-chat", json.dumps(mistral).encode(), stream=False, dialect="mistral"
    )
    top = answer_violations(
        "openai-chat", json.dumps({**whole, "reasoning_content": "why"}).encode(), stream=False
    )
    assert top == ["$.reasoning_content: unknown field (not in ChatCompletion)"]
    event = {"type": "response.output_item.added", "output_index": 0, "sequence_number": 0}
    item = {"type": "message", "id": "m", "role": "assistant", "status": "in_progress"}
    body = (
        b"event: response.output_item.added\ndata: "
        + json.dumps({**event, "item": {**item, "content": [], "store": False}}).encode()
        + b"\n\n"
    )
    assert answer_violations("openai-responses", body, stream=True) == [
        "event0.item.store: unknown field (not in ResponseOutputMessage)"
    ]
