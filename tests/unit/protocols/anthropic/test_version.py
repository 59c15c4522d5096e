"""anthropic-version 2026-10-21 on the backend side, and the pinned older version
(docs/anthropic-version.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message

from crosswire import ir
from crosswire.protocols.anthropic import version
from crosswire.protocols.anthropic.content_decode import ORIGINAL_BLOCK
from crosswire.protocols.anthropic.mapping import ANTHROPIC_VERSION, LEGACY_VERSION
from crosswire.protocols.base import Target
from tests.unit.protocols.anthropic.support import (
    CALL,
    MESSAGE_STOP,
    C,
    assistant,
    decode_request,
    encode_request,
    message_start,
    request,
    sse,
    user,
)

PDF = ir.File(kind="document", media_type="application/pdf", data="JVBERi0=", filename="r.pdf")
CITATION = {
    "type": "char_location",
    "cited_text": "x",
    "document_index": 0,
    "document_title": "d",
    "start_char_index": 0,
    "end_char_index": 1,
}


def headers(req: ir.Request, api_version: str | None = None) -> dict[str, str]:
    up = C.encode_request(
        req, Target(protocol="anthropic", model="claude", api_version=api_version), ir.Report()
    )
    return dict(up.headers)


# ---- the header --------------------------------------------------------------------------------


def test_the_current_version_is_sent_by_default_and_a_pin_wins() -> None:
    assert headers(request(user("hi")))["anthropic-version"] == ANTHROPIC_VERSION == "2026-10-21"
    assert headers(request(user("hi")), LEGACY_VERSION)["anthropic-version"] == "2023-06-01"
    assert headers(request(user("hi")), " ")["anthropic-version"] == ANTHROPIC_VERSION


@pytest.mark.parametrize(
    ("value", "strict"),
    [("2026-10-21", True), ("2027-03-01", True), ("latest", True), ("2023-06-01", False)],
)
def test_which_versions_get_the_new_rules(value: str, strict: bool) -> None:
    """A later date or a label gets the newest rules; only an earlier date the old ones."""
    assert version.strict(value) is strict


# ---- sampling ----------------------------------------------------------------------------------


def test_sampling_is_never_sent_and_each_field_the_app_set_is_named() -> None:
    report = ir.Report()
    params = ir.Params(temperature=0.2, top_p=0.9, top_k=40, max_tokens=100)
    body = encode_request(request(user("hi"), params=params), report)
    assert not {"temperature", "top_p", "top_k"} & body.keys()
    assert report.dropped_fields == ["temperature", "top_p", "top_k"]
    assert "2023-06-01" in report.notes[0].reason  # how to get it back
    assert report.header_value() == "temperature, top_p, top_k"


def test_gemini_cli_temperature_1_with_a_thinking_budget_is_dropped_not_clamped() -> None:
    report = ir.Report()
    req = request(
        user("hi"),
        params=ir.Params(temperature=1.0, top_p=0.95, max_tokens=20000),
        reasoning=ir.ReasoningConfig(enabled=True, budget_tokens=8192),
    )
    body = encode_request(req, report)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert "temperature" not in body and "top_p" not in body
    assert report.dropped_fields == ["temperature", "top_p"]


def test_unset_sampling_adds_no_note() -> None:
    report = ir.Report()
    encode_request(request(user("hi")), report)
    assert report.dropped_fields == []


def test_a_pinned_old_version_keeps_sampling_clamped() -> None:
    report = ir.Report()
    params = ir.Params(temperature=1.5, top_p=0.9, top_k=40)
    body = encode_request(request(user("hi"), params=params), report, api_version=LEGACY_VERSION)
    assert body["temperature"] == 1.0 and body["top_k"] == 40 and "top_p" not in body
    assert [n.action for n in report.notes if n.field == "temperature"] == ["clamped"]


def test_other_parameters_are_handled_the_same_under_both_versions() -> None:
    params = ir.Params(stop=("END", " "), seed=3, n=1)
    for pin in (None, LEGACY_VERSION):
        report = ir.Report()
        body = encode_request(request(user("hi"), params=params), report, api_version=pin)
        assert body["stop_sequences"] == ["END"]
        assert "stop" in report.dropped_fields and "seed" in report.dropped_fields
    with pytest.raises(ir.UnsupportedFeature):
        encode_request(request(user("hi"), params=ir.Params(n=2)))


# ---- documents in assistant turns --------------------------------------------------------------


def test_a_document_in_an_assistant_turn_moves_to_the_user_turn_before_it() -> None:
    report = ir.Report()
    req = request(user("make a pdf"), assistant(ir.Text(text="here"), PDF), user("summarise it"))
    body = encode_request(req, report)
    first, second, third = body["messages"]
    assert first["role"] == "user" and [b["type"] for b in first["content"]] == [
        "text",
        "document",
    ]
    assert first["content"][1]["title"] == "r.pdf"
    assert second == {"role": "assistant", "content": [{"type": "text", "text": "here"}]}
    assert third["role"] == "user"
    assert [n.action for n in report.notes if n.field == "document"] == ["moved"]


def test_an_assistant_turn_of_only_a_document_disappears_and_the_user_turns_merge() -> None:
    body = encode_request(request(user("a"), assistant(PDF), user("b")))
    assert [t["role"] for t in body["messages"]] == ["user"]
    assert [b.get("text", b["type"]) for b in body["messages"][0]["content"]] == [
        "a",
        "document",
        "b",
    ]


def test_a_leading_assistant_document_gets_a_user_turn_of_its_own() -> None:
    report = ir.Report()
    body = encode_request(request(assistant(PDF, ir.Text(text="see")), user("ok")), report)
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][0]["type"] == "document"
    assert "first user message" not in [n.field for n in report.notes]  # nothing invented


def test_tool_pairing_survives_the_move() -> None:
    call = ir.ToolCall(id="toolu_1", name="f", arguments="{}")
    result = ir.Message(role="tool", parts=(ir.ToolResult(call_id="toolu_1", name="f"),))
    body = encode_request(request(user("go"), assistant(PDF, call), result))
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    assert body["messages"][2]["content"][0]["type"] == "tool_result"


def test_a_prefill_stays_last() -> None:
    body = encode_request(request(user("q"), assistant(PDF, ir.Text(text="The answer is"))))
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is"}],
    }


def test_documents_nested_in_other_blocks_and_images_stay() -> None:
    fetched = ir.Opaque(
        origin="anthropic",
        data={
            "type": "web_fetch_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": {"type": "web_fetch_result", "content": {"type": "document"}},
        },
    )
    image = ir.File(kind="image", media_type="image/png", url="https://x/y.png")
    report = ir.Report()
    body = encode_request(request(user("q"), assistant(fetched, image)), report)
    assert [b["type"] for b in body["messages"][1]["content"]] == ["web_fetch_tool_result", "image"]
    assert "document" not in [n.field for n in report.notes]


def test_a_pinned_old_version_leaves_assistant_documents_in_place() -> None:
    body = encode_request(request(user("a"), assistant(PDF), user("b")), api_version=LEGACY_VERSION)
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]


# ---- citations in user turns -------------------------------------------------------------------


def _cited(text: str) -> ir.Text:
    return ir.Text(text=text, native={"anthropic": {"citations": [CITATION]}})


def _blocks(body: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [b for t in body["messages"] if t["role"] == role for b in t["content"]]


def test_citations_leave_user_text_but_stay_on_assistant_text() -> None:
    report = ir.Report()
    enabled = ir.Text(text="plain", native={"anthropic": {"cache_control": {"type": "ephemeral"}}})
    req = request(
        ir.Message(role="user", parts=(_cited("quoted"), enabled)),
        assistant(_cited("answer")),
        user("more"),
    )
    body = encode_request(req, report)
    users = _blocks(body, "user")
    assert users[0] == {"type": "text", "text": "quoted"}
    assert users[1]["cache_control"] == {"type": "ephemeral"}
    assert _blocks(body, "assistant")[0]["citations"] == [CITATION]
    assert report.dropped_fields == ["citations"]
    assert req.messages[0].parts[0].native["anthropic"]["citations"] == [CITATION]  # IR untouched


def test_citations_leave_search_results_inside_tool_results() -> None:
    search = {
        "type": "search_result",
        "source": "https://x",
        "title": "t",
        "citations": {"enabled": True},
        "content": [{"type": "text", "text": "s", "citations": [CITATION]}],
    }
    result = ir.ToolResult(
        call_id="toolu_1",
        name="f",
        content=(ir.Text(text="s", native={"anthropic": {ORIGINAL_BLOCK: search}}),),
    )
    req = request(
        user("go"),
        assistant(ir.ToolCall(id="toolu_1", name="f", arguments="{}")),
        ir.Message(role="tool", parts=(result,)),
    )
    body = encode_request(req)
    sent = _blocks(body, "user")[1]["content"][0]
    assert sent["citations"] == {"enabled": True}  # the setting is allowed
    assert sent["content"] == [{"type": "text", "text": "s"}]
    assert search["content"][0]["citations"] == [CITATION]  # type: ignore[index]


def test_a_pinned_old_version_keeps_user_citations() -> None:
    report = ir.Report()
    body = encode_request(
        request(ir.Message(role="user", parts=(_cited("q"),))), report, api_version=LEGACY_VERSION
    )
    assert _blocks(body, "user")[0]["citations"] == [CITATION]
    assert report.dropped_fields == []


# ---- apps on the new SDKs ----------------------------------------------------------------------


def test_a_new_sdk_request_decodes_system_turns_in_messages_and_no_sampling() -> None:
    """The 2.x SDK's ``MessageParam`` is a union of user, assistant and system messages; the
    JSON is what it always was, system turns may sit inside ``messages``."""
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            {"role": "system", "content": "Now in French."},
            {"role": "user", "content": [{"type": "text", "text": "again"}]},
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
    }
    req = decode_request(body)
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "system", "user"]
    assert req.params == ir.Params(max_tokens=1024)
    again = encode_request(req, model=body["model"])
    assert again["messages"] == [{"role": "system", "content": "Be brief."}, *body["messages"][1:]]
    assert "system" not in again  # in place, not lifted into the system slot
    assert again["thinking"] == {"type": "adaptive"}


def test_answers_for_a_new_sdk_app_parse_with_its_types() -> None:
    """New response fields (``stop_details``, ``output_tokens_details``) reach the app."""
    raw = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5-5",
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": {"type": "refusal", "category": "cyber", "explanation": "no"},
        "usage": {
            "input_tokens": 5,
            "output_tokens": 9,
            "output_tokens_details": {"thinking_tokens": 4},
        },
    }
    response = C.decode_response(json.dumps(raw).encode(), ir.Report())
    assert response.finish.reason == "refusal" and response.usage.reasoning_tokens == 4
    out = Message.model_validate_json(
        C.encode_response(CALL, request(user("x")), response, ir.Report())
    )
    assert out.stop_details is not None and out.stop_details.category == "cyber"
    assert out.usage.output_tokens_details is not None
    assert out.usage.output_tokens_details.thinking_tokens == 4


def test_a_streamed_refusal_names_its_stop_details_in_the_report() -> None:
    delta = {
        "type": "message_delta",
        "delta": {
            "stop_reason": "refusal",
            "stop_sequence": None,
            "stop_details": {"type": "refusal", "category": "bio", "explanation": "not this"},
        },
        "usage": {"output_tokens": 3, "output_tokens_details": {"thinking_tokens": 1}},
    }
    report = ir.Report()
    decoder = C.stream_decoder(request(user("x")), report)
    events = decoder.feed(sse([message_start(), delta, MESSAGE_STOP])) + decoder.flush()
    finish = events[-1]
    assert isinstance(finish, ir.StreamFinish) and finish.finish.reason == "refusal"
    assert finish.usage.reasoning_tokens == 1
    assert [(n.field, n.reason) for n in report.notes] == [
        ("stop_details", "refusal (bio): not this")
    ]
