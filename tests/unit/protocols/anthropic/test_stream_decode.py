"""Anthropic streams the recordings do not show (the grammar is checked by conftest)."""

from __future__ import annotations

from crosswire import ir
from tests.unit.protocols.anthropic.support import (
    MESSAGE_STOP,
    block_delta,
    block_start,
    block_stop,
    decode_stream,
    message_delta,
    message_start,
    sse,
)


def test_a_server_block_that_ends_while_a_text_block_is_open_closes_the_text_first() -> None:
    """One part open at a time, whatever the wire interleaves: the collected server block is
    passed on whole after the text part it overlapped has ended."""
    body = sse(
        [
            message_start(),
            block_start(0, {"type": "server_tool_use", "id": "s1", "name": "web_search"}),
            block_start(1, {"type": "text", "text": ""}),
            block_delta(1, {"type": "text_delta", "text": "hi"}),
            block_stop(0),
            block_delta(1, {"type": "text_delta", "text": " lost"}),
            block_stop(1),
            message_delta(),
            MESSAGE_STOP,
        ]
    )
    events = decode_stream(body)
    response = ir.accumulate(events)
    assert [p.type for p in response.parts] == ["text", "opaque"]
    assert response.parts[0] == ir.Text(text="hi")
