"""accumulate(replay(r)) == r for every part type; usage merges field by field."""

from __future__ import annotations

from crosswire import ir
from crosswire.ir.ids import alnum_id, derived_call_id, safe_id, short_name


def test_replay_then_accumulate_is_identity() -> None:
    response = ir.Response(
        id="r1",
        model="m",
        parts=(
            ir.Reasoning(text="think", signature="sig", origin="anthropic"),
            ir.Reasoning(redacted="opaque", origin="anthropic"),
            ir.Text(text="hello"),
            ir.ToolCall(id="c1", name="f", arguments='{"a": 1}'),
            ir.ToolCall(id="c2", name="g", arguments=""),
            ir.Opaque(origin="anthropic", data={"type": "server_tool_use"}),
        ),
        finish=ir.Finish(reason="tool_calls", raw="tool_use"),
        usage=ir.Usage(input_tokens=10, output_tokens=5, cache_read_tokens=2),
    )
    assert ir.accumulate(ir.replay(response)) == response


def test_usage_merge_keeps_absent_fields() -> None:
    start = ir.Usage(input_tokens=100, cache_read_tokens=40)
    merged = start.merged(ir.Usage(output_tokens=7))
    assert merged == ir.Usage(input_tokens=100, output_tokens=7, cache_read_tokens=40)
    assert merged.uncached_input_tokens == 60


def test_stream_without_finish_accumulates_as_error() -> None:
    acc = ir.Accumulator()
    acc.add(ir.ResponseStart(id="x", model="m"))
    assert acc.response().finish.reason == "error"


def test_ids_are_deterministic_and_valid() -> None:
    assert safe_id("toolu_01ABC") == "toolu_01ABC"
    odd = safe_id("functions.Bash:0")
    assert odd == safe_id("functions.Bash:0") and all(c.isalnum() or c in "_-" for c in odd)
    m = alnum_id("call_abc123456789")
    assert len(m) == 9 and m.isalnum() and m == alnum_id("call_abc123456789")
    assert alnum_id("abcDEF123") == "abcDEF123"
    assert derived_call_id("r", 0) != derived_call_id("r", 1)
    long = "mcp__" + "x" * 80
    s = short_name(long)
    assert len(s) <= 64 and s != short_name(long + "y")
    assert short_name("get_weather") == "get_weather"
