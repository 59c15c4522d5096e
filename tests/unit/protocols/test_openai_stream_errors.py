"""Errors inside a 200 stream read the same way on every OpenAI-shaped wire (Chat, FIM,
completions, Responses): ``openai_errors.from_stream`` / ``chunk_error`` (edge 10)."""

from __future__ import annotations

import json

import pytest

from crosswire import ir
from crosswire.protocols import codec, openai_errors
from crosswire.protocols.base import ProtocolName


def _events(protocol: ProtocolName, *objects: object) -> list[ir.Event]:
    decoder = codec(protocol).stream_decoder(ir.Request(model="m"), ir.Report())
    body = b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objects)
    return decoder.feed(body) + decoder.flush()


def _error(events: list[ir.Event]) -> ir.Error:
    last = events[-1]
    assert isinstance(last, ir.StreamError)
    return last.error


@pytest.mark.parametrize("protocol", ["openai-chat", "fim", "openai-completions"])
def test_a_flat_mistral_or_vllm_error_object_fails_a_chat_shaped_stream(
    protocol: ProtocolName,
) -> None:
    flat = {"object": "error", "message": "slow down", "type": "rate_limited", "code": 429}
    error = _error(_events(protocol, flat))
    assert (error.kind, error.status, error.message) == ("rate_limit", 429, "slow down")


@pytest.mark.parametrize("protocol", ["openai-chat", "fim", "openai-completions"])
def test_an_error_envelope_chunk_takes_its_kind_from_the_type(protocol: ProtocolName) -> None:
    chunk = {"error": {"message": "no credit", "type": "insufficient_quota"}}
    error = _error(_events(protocol, chunk))
    assert (error.kind, error.status, error.code) == ("quota_exhausted", 429, "insufficient_quota")


def test_a_responses_error_event_reads_the_chat_error_types_too() -> None:
    event = {"type": "error", "error": {"type": "rate_limit_error", "message": "later"}}
    error = _error(_events("openai-responses", event))
    assert (error.kind, error.status) == ("rate_limit", 429)


def test_unknown_invalid_codes_are_the_requests_fault_and_a_bare_message_is_kept() -> None:
    assert openai_errors.from_stream({"code": "invalid_tool_schema"}).status == 400
    error = openai_errors.from_stream("upstream exploded")
    assert (error.kind, error.status, error.message) == ("api_error", 500, "upstream exploded")


def test_a_chunk_with_choices_is_no_error() -> None:
    assert openai_errors.chunk_error({"choices": [{"index": 0}], "object": "error"}) is None
