"""An Ollama app's request fields → IR (docs.ollama.com/api/chat and /api/generate)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from crosswire import ir
from crosswire.ir.errors import ClientRequestError
from tests.unit.protocols.ollama.support import decode

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "qwen3", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("think", "enabled", "effort"),
    [(True, True, None), (False, False, None), ("low", True, "low"), ("HIGH", True, "high")],
)
def test_think_is_a_boolean_or_a_level(think: Any, enabled: bool, effort: str | None) -> None:
    r = decode(chat(think=think)).reasoning
    assert r is not None and r.enabled is enabled and r.effort == effort
    assert r.include_thoughts is enabled


def test_think_refuses_other_values() -> None:
    with pytest.raises(ClientRequestError, match="think"):
        decode(chat(think="extreme"))
    with pytest.raises(ClientRequestError, match="think"):
        decode(chat(think=3))


def test_format_is_empty_json_or_a_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert decode(chat(format="")).response_format is None
    assert decode(chat(format="json")).response_format == ir.ResponseFormat(type="json_object")
    fmt = decode(chat(format=schema)).response_format
    assert fmt is not None and fmt.type == "json_schema" and fmt.schema == schema
    with pytest.raises(ClientRequestError, match="format"):
        decode(chat(format="yaml"))


def test_options_map_to_params_and_the_rest_stays_native() -> None:
    req = decode(
        chat(
            options={
                "num_predict": 100.0,
                "temperature": 1,
                "top_p": 0.9,
                "top_k": 40,
                "seed": 7,
                "stop": ["END", "STOP"],
                "presence_penalty": 0.5,
                "frequency_penalty": 0.25,
                "num_ctx": 8192,
                "min_p": 0.05,
                "repeat_penalty": 1.1,
            }
        )
    )
    assert req.params == ir.Params(
        max_tokens=100,
        temperature=1.0,
        top_p=0.9,
        top_k=40,
        seed=7,
        stop=("END", "STOP"),
        presence_penalty=0.5,
        frequency_penalty=0.25,
    )
    assert req.native["ollama"]["options"] == {
        "num_ctx": 8192,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
    }


def test_a_single_stop_string_and_endless_num_predict() -> None:
    req = decode(chat(options={"stop": "END", "num_predict": -1}))
    assert req.params.stop == ("END",) and req.params.max_tokens is None
    assert req.native["ollama"]["options"] == {"num_predict": -1}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"temperature": "hot"}, "options.temperature"),
        ({"num_predict": 1.5}, "options.num_predict"),
        ({"top_k": True}, "options.top_k"),
        ({"stop": [1]}, r"options.stop\[0\]"),
    ],
)
def test_options_of_the_wrong_type_are_a_400_naming_them(options: Any, field: str) -> None:
    with pytest.raises(ClientRequestError, match=field):
        decode(chat(options=options))


def test_top_level_fields_the_ir_does_not_model_stay_native() -> None:
    req = decode(chat(keep_alive="5m", logprobs=True, top_logprobs=3, stream=False))
    assert req.native["ollama"] == {"keep_alive": "5m", "logprobs": True, "top_logprobs": 3}
    assert req.stream is False and req.include_usage is True
    assert decode(chat(keep_alive=0)).native["ollama"] == {"keep_alive": 0}
    assert decode(chat(keep_alive=None, format="")).native == {}
    assert decode(chat()).stream is True  # Ollama streams by default


def test_tools_and_non_function_tools() -> None:
    fn = {"name": "f", "description": "d", "parameters": {"type": "object"}}
    req = decode(chat(tools=[{"type": "function", "function": fn}, {"type": "web_search"}]))
    assert req.tools == (ir.Tool(name="f", description="d", parameters={"type": "object"}),)
    assert req.native_tools == (ir.NativeTool(origin="ollama", data={"type": "web_search"}),)
    with pytest.raises(ClientRequestError, match=r"tools\[0\].function.name"):
        decode(chat(tools=[{"type": "function", "function": {"description": "x"}}]))


def _history(*messages: dict[str, Any]) -> tuple[ir.Message, ...]:
    return decode({"model": "m", "messages": list(messages)}).messages


def test_tool_call_arguments_are_objects_and_ids_are_kept_when_sent() -> None:
    """Edge 30: arguments are a JSON object on the wire, raw text in the IR."""
    (msg,) = _history(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_p7o2", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}},
                {"function": {"name": "g", "arguments": {}}},
            ],
        }
    )
    first, second = msg.parts
    assert isinstance(first, ir.ToolCall) and isinstance(second, ir.ToolCall)
    assert first.id == "call_p7o2" and first.arguments == '{"a":1}'
    assert first.native == {"ollama": {"id": "call_p7o2", "function": {"index": 0}}}
    assert second.id.startswith("call_") and second.arguments == "{}"


def test_results_pair_with_calls_by_id_then_by_tool_name_in_order() -> None:
    calls = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "weather", "arguments": {"city": "London"}}},
            {"id": "c3", "function": {"name": "time", "arguments": {}}},
        ],
    }
    msgs = _history(
        calls,
        {"role": "tool", "tool_call_id": "c3", "content": "noon"},
        {"role": "tool", "tool_name": "weather", "content": "sunny"},
        {"role": "tool", "name": "weather", "content": "rain"},
    )
    ids = [p.id for p in msgs[0].parts if isinstance(p, ir.ToolCall)]
    results = [m.parts[0] for m in msgs[1:]]
    assert all(isinstance(r, ir.ToolResult) for r in results)
    assert [r.call_id for r in results] == [ids[2], ids[0], ids[1]]  # type: ignore[union-attr]
    assert [r.name for r in results] == ["time", "weather", "weather"]  # type: ignore[union-attr]
    assert results[0].native == {"ollama": {"tool_call_id": "c3"}}
    assert results[1].native == {}


def test_a_result_without_name_takes_the_first_open_call_and_gets_its_name() -> None:
    msgs = _history(
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}]},
        {"role": "tool", "content": "42"},
    )
    call, result = msgs[0].parts[0], msgs[1].parts[0]
    assert isinstance(call, ir.ToolCall) and isinstance(result, ir.ToolResult)
    assert result.call_id == call.id and result.name == "f" and call.arguments == ""


def test_derived_call_ids_are_stable_across_turns() -> None:
    turn: list[dict[str, Any]] = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
        },
        {"role": "tool", "tool_name": "f", "content": "r"},
    ]
    one = _history(*turn)
    two = _history(
        *turn, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}
    )
    assert one[1].parts == two[1].parts and one[2].parts == two[2].parts


def test_images_thinking_and_unknown_message_fields() -> None:
    (user, assistant) = _history(
        {"role": "USER", "content": "what is this?", "images": [PNG], "x-extra": 1},
        {"role": "assistant", "content": "a dot", "thinking": "tiny image"},
    )
    assert user.role == "user" and user.native == {"ollama": {"x-extra": 1}}
    text, image = user.parts
    assert text == ir.Text(text="what is this?")
    assert image == ir.File(kind="image", data=PNG, media_type="image/png")
    assert assistant.parts == (
        ir.Reasoning(text="tiny image", origin="ollama"),
        ir.Text(text="a dot"),
    )


def test_tool_results_may_carry_images() -> None:
    msgs = _history(
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "shot"}}]},
        {"role": "tool", "tool_name": "shot", "content": "", "images": [PNG]},
    )
    result = msgs[1].parts[0]
    assert isinstance(result, ir.ToolResult)
    assert result.content == (ir.File(kind="image", data=PNG, media_type="image/png"),)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, r"messages\[0\].content"),
        ({"model": "m", "messages": [{"role": "user", "images": [1]}]}, r"images\[0\]"),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]},
            r"tool_calls\[0\].function.name",
        ),
        ({"model": "m", "messages": [], "stream": "yes"}, "stream"),
    ],
)
def test_wrong_types_are_a_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientRequestError, match=field):
        decode(body)


def test_generate_prompt_suffix_system_and_native_fields() -> None:
    passthrough = {
        "template": "{{ .Prompt }}",
        "context": [1, 2, 3],
        "raw": True,
        "images": [PNG],
        "logprobs": True,
        "top_logprobs": 2,
        "width": 512,
        "height": 512,
        "steps": 20,
        "keep_alive": -1,
    }
    modelled = {
        "model": "qwen2.5-coder",
        "prompt": "def add(",
        "suffix": "\n    return c",
        "system": "complete code",
        "think": "medium",
        "options": {"num_predict": 64},
    }
    req = decode(modelled | passthrough, generate=True)
    assert req.fim == ir.FimPrompt(prefix="def add(", suffix="\n    return c")
    assert req.messages == (ir.Message(role="system", parts=(ir.Text(text="complete code"),)),)
    assert req.reasoning is not None and req.reasoning.effort == "medium"
    assert req.params.max_tokens == 64
    assert req.native["ollama"] == passthrough


def test_generate_without_prompt_is_an_empty_prefix() -> None:
    """A load-only request (no prompt) still decodes."""
    req = decode({"model": "m"}, generate=True)
    assert req.fim == ir.FimPrompt(prefix="") and req.messages == ()
