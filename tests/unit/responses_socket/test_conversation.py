"""The socket's conversation memory: what a ``previous_response_id`` continuation expands to."""

from __future__ import annotations

from typing import Any

import pytest

from crosswire.responses_socket.conversation import (
    Conversation,
    MessageError,
    new_response_id,
    parse_message,
)


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def said(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def create(**fields: Any) -> dict[str, Any]:
    return {"type": "response.create", "model": "gpt-5", **fields}


def test_a_first_turn_is_the_http_body_with_stream_and_without_socket_fields() -> None:
    conv = Conversation()
    turn = conv.plan(
        create(
            input=[user("hi")],
            instructions="be brief",
            store=False,
            stream=False,  # a socket always streams, whatever the app sent
            generate=True,
            stream_id="lane-1",
            client_metadata={"turn_id": "t"},
            background=False,
        )
    )
    assert turn.body == {
        "model": "gpt-5",
        "input": [user("hi")],
        "instructions": "be brief",
        "store": False,
        "stream": True,
    }
    assert turn.generate and turn.stream_id == "lane-1" and turn.model == "gpt-5"


def test_a_continuation_gets_the_prior_input_and_output_and_drops_the_id() -> None:
    conv = Conversation()
    first = conv.plan(create(input=[user("one")]))
    conv.remember(first, "resp_1", [said("ONE")])
    second = conv.plan(create(previous_response_id="resp_1", input=[user("two")]))
    assert second.body["input"] == [user("one"), said("ONE"), user("two")]
    assert "previous_response_id" not in second.body
    conv.remember(second, "resp_2", [said("TWO")])
    third = conv.plan(create(previous_response_id="resp_2", input=[user("three")]))
    assert third.body["input"] == [
        user("one"),
        said("ONE"),
        user("two"),
        said("TWO"),
        user("three"),
    ]


def test_a_tool_round_trip_continues_with_only_the_call_output() -> None:
    conv = Conversation()
    call = {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"}
    first = conv.plan(create(input=[user("list")], tools=[{"type": "function", "name": "ls"}]))
    conv.remember(first, "resp_a", [call])
    result = {"type": "function_call_output", "call_id": "c1", "output": "a b"}
    second = conv.plan(create(previous_response_id="resp_a", input=[result]))
    assert second.body["input"] == [user("list"), call, result]
    # instructions and tools are not carried over (as on OpenAI): the app sends them each turn
    assert "tools" not in second.body


def test_forks_from_an_older_response_see_only_its_own_branch() -> None:
    conv = Conversation()
    first = conv.plan(create(input=[user("root")]))
    conv.remember(first, "resp_root", [said("R")])
    left = conv.plan(create(previous_response_id="resp_root", input=[user("left")]))
    conv.remember(left, "resp_left", [said("L")])
    right = conv.plan(create(previous_response_id="resp_root", input=[user("right")]))
    assert right.body["input"] == [user("root"), said("R"), user("right")]


def test_a_warmup_is_remembered_like_any_response() -> None:
    conv = Conversation()
    warm = conv.plan(
        create(input=[{"type": "message", "role": "developer", "content": "x"}], generate=False)
    )
    assert not warm.generate
    conv.remember(warm, "resp_warm", [])
    turn = conv.plan(create(previous_response_id="resp_warm", input=[user("go")]))
    assert turn.body["input"] == [
        {"type": "message", "role": "developer", "content": "x"},
        user("go"),
    ]


def test_a_string_input_is_one_user_message_and_absent_input_is_empty() -> None:
    conv = Conversation()
    turn = conv.plan(create(input="hello"))
    assert turn.body["input"] == [{"type": "message", "role": "user", "content": "hello"}]
    conv.remember(turn, "resp_s", [said("hi")])
    assert conv.plan(create(previous_response_id="resp_s")).body["input"] == [
        {"type": "message", "role": "user", "content": "hello"},
        said("hi"),
    ]
    assert conv.plan(create()).body["input"] == []


def test_an_unknown_previous_response_id_is_previous_response_not_found() -> None:
    conv = Conversation()
    with pytest.raises(MessageError) as err:
        conv.plan(create(previous_response_id="resp_nope", input=[user("x")]))
    assert err.value.code == "previous_response_not_found"
    assert err.value.param == "previous_response_id" and err.value.status == 400
    assert "resp_nope" in str(err.value)


def test_a_null_previous_response_id_starts_a_new_chain() -> None:
    turn = Conversation().plan(create(previous_response_id=None, input=[user("x")]))
    assert turn.body["input"] == [user("x")] and "previous_response_id" not in turn.body


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ([1, 2], "invalid_json"),
        ({"type": "response.cancel"}, "unsupported_event_type"),
        ({"model": "m"}, "unsupported_event_type"),
        ({"type": "response.create", "input": {"role": "user"}}, "invalid_value"),
    ],
)
def test_messages_that_cannot_be_served_say_why(message: Any, code: str) -> None:
    with pytest.raises(MessageError) as err:
        Conversation().plan(message)
    assert err.value.code == code


def test_only_the_most_recent_ids_stay_addressable() -> None:
    conv = Conversation(limit=3)
    prev: str | None = None
    for n in range(5):
        turn = conv.plan(create(previous_response_id=prev, input=[user(str(n))]))
        prev = f"resp_{n}"
        conv.remember(turn, prev, [said(str(n))])
    assert len(conv) == 3
    with pytest.raises(MessageError):
        conv.plan(create(previous_response_id="resp_1"))
    # the latest still holds the whole chain, even the forgotten ids' items
    full = conv.plan(create(previous_response_id="resp_4")).body["input"]
    assert [i["content"][0]["text"] for i in full] == [
        c for n in range(5) for c in (str(n), str(n))
    ]


def test_memory_is_shared_between_turns_not_copied() -> None:
    """A long agent loop costs memory linear in its items: each node holds only its own."""
    conv = Conversation()
    prev = None
    for n in range(200):
        turn = conv.plan(create(previous_response_id=prev, input=[user(str(n))]))
        prev = f"resp_{n}"
        conv.remember(turn, prev, [said(str(n))])
    assert prev is not None
    node = conv._nodes[prev]
    assert len(node.items) == 1 and node.parent is not None and len(node.parent.items) == 1


def test_an_empty_response_id_is_not_remembered() -> None:
    conv = Conversation()
    conv.remember(conv.plan(create(input=[])), "", [])
    assert len(conv) == 0


def test_parse_message_and_ids() -> None:
    assert parse_message('{"type":"response.create"}') == {"type": "response.create"}
    with pytest.raises(MessageError) as err:
        parse_message("{nope")
    assert err.value.code == "invalid_json"
    a, b = new_response_id(), new_response_id()
    assert a.startswith("resp_") and a != b
