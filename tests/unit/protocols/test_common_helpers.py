"""The helpers every codec shares (``protocols/common.py``): one behaviour for all wires."""

from __future__ import annotations

import email.utils
import time

import pytest

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.common import (
    clamp_temperature,
    function_tool,
    retry_after,
    retry_after_header,
    set_fields,
    stop_sequences,
    unix_time,
)


def test_retry_after_reads_milliseconds_seconds_and_dates_in_any_header_case() -> None:
    assert retry_after({"Retry-After-Ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"RETRY-AFTER": "7"}) == 7.0
    soon = email.utils.formatdate(time.time() + 60, usegmt=True)
    delay = retry_after({"retry-after": soon})
    assert delay is not None and 50 < delay <= 60
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None  # past
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize("name", ["anthropic", "gemini", "openai-chat", "ollama", "fim"])
def test_every_codec_reads_an_http_date_retry_after(name: str) -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    error = codec(name).decode_error(429, {"Retry-After": soon}, b"")  # type: ignore[arg-type]
    assert error.retry_after is not None and 20 < error.retry_after <= 30


def test_retry_after_header_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(ir.Error.of("rate_limit", "x", retry_after=2.2)) == {
        "retry-after": "3"
    }
    assert retry_after_header(ir.Error.of("rate_limit", "x", retry_after=0.1)) == {
        "retry-after": "1"
    }
    assert retry_after_header(ir.Error.of("rate_limit", "x")) == {}


def test_temperature_clamp_notes_what_it_changed() -> None:
    report = ir.Report()
    assert clamp_temperature(1.5, 1.0, "Anthropic", report) == 1.0
    assert clamp_temperature(0.7, 2.0, "Gemini", report) == 0.7
    assert [n.field for n in report.notes] == ["temperature"]


def test_stop_sequences_drop_empty_ones_and_keep_the_wires_limit() -> None:
    report = ir.Report()
    assert stop_sequences(("a", "", "b", "c"), 2, report) == ["a", "b"]
    assert [n.field for n in report.notes] == ["stop", "stop"]
    assert stop_sequences(("a",), None, ir.Report()) == ["a"]


def test_set_fields_copies_only_what_the_app_set() -> None:
    assert set_fields({"x": 1}, ("a", None), ("b", 0), ("c", "")) == {"x": 1, "b": 0, "c": ""}


def test_unix_time_takes_positive_numbers_only() -> None:
    assert [unix_time(v) for v in (1700000000, 1.7e9, 0, -5, True, "1", None)] == [
        1700000000,
        1700000000,
        None,
        None,
        None,
        None,
        None,
    ]


def test_function_tool_keeps_unmodelled_keys_for_the_same_protocol() -> None:
    fn = {"name": "f", "parameters": {"type": "object"}, "strict": True, "x": 1}
    tool = function_tool(fn, "tools[0].function", "openai-chat", {"y": 2}, strict=True)
    assert (tool.name, tool.strict) == ("f", True)
    assert tool.native == {"openai-chat": {"y": 2, "function": {"x": 1}}}
    loose = function_tool(fn, "tools[0].function", "ollama", {}, strict=False)
    assert loose.strict is None and loose.native == {
        "ollama": {"function": {"strict": True, "x": 1}}
    }
