"""The event grammar (``ir.grammar``) and the builder every stream decoder shares
(``ir.builder``): what the checker refuses, and that the builder's output passes it."""

from __future__ import annotations

import pytest

from crosswire import ir
from crosswire.ir.builder import StreamBuilder
from crosswire.ir.grammar import CheckedDecoder, GrammarError, check

START = ir.ResponseStart(id="r", model="m")
FINISH = ir.StreamFinish(finish=ir.Finish(reason="stop", raw="stop"))
ERROR = ir.StreamError(error=ir.Error.of("api_error", "boom"))
TEXT = ir.PartStart(index=0, part=ir.Text(text=""))


def test_a_whole_answer_replayed_follows_the_grammar() -> None:
    response = ir.Response(
        id="r",
        model="m",
        parts=(
            ir.Reasoning(text="t", signature="s", origin="anthropic"),
            ir.Text(text="hi"),
            ir.ToolCall(id="c", name="f", arguments="{}"),
        ),
        finish=ir.Finish(reason="tool_calls", raw=None),
    )
    check(ir.replay(response))


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([TEXT, FINISH], "before ResponseStart"),
        ([START, START, FINISH], "a second ResponseStart"),
        ([START, ir.PartStart(index=1, part=ir.Text(text="")), FINISH], "expected 0"),
        ([START, TEXT, TEXT], "while another is open"),
        ([START, ir.PartDelta(index=0, kind="text", text="x"), FINISH], "not the open part"),
        ([START, TEXT, ir.PartDelta(index=0, kind="arguments", text="{")], "to a Text part"),
        ([START, TEXT, ir.PartEnd(index=0), ir.PartEnd(index=0)], "not the open part"),
        ([START, TEXT, FINISH], "open"),
        ([START, FINISH, FINISH], "after the stream ended"),
        ([START, ERROR, ir.UsageUpdate(usage=ir.Usage())], "after the stream ended"),
    ],
)
def test_broken_sequences_are_named(events: list[ir.Event], message: str) -> None:
    with pytest.raises(GrammarError, match=message):
        check(events)


def test_a_stream_must_end_and_may_fail_anywhere() -> None:
    with pytest.raises(GrammarError, match="no StreamFinish or StreamError"):
        check([START, TEXT])
    check([START, TEXT], complete=False)
    check([ERROR])  # failed before it started
    check([START, TEXT, ir.PartDelta(index=0, kind="text", text="x"), ERROR])  # broke inside


def test_the_builder_keeps_indices_dense_and_one_part_open() -> None:
    out: list[ir.Event] = []
    stream = StreamBuilder()
    stream.start(out, id="r", model="m")
    stream.start(out, id="ignored")
    stream.begin(ir.Text(text=""), out, "text")
    stream.delta("text", "a", out)
    stream.delta("text", "", out)  # empty fragments are not events
    assert stream.tag == "text" and stream.index == 0
    stream.whole(ir.ToolCall(id="c", name="f", arguments='{"x":1}'), out)  # closes the text
    assert stream.tag is None and stream.next == 2
    stream.finish(ir.Finish(reason="tool_calls", raw=None), out)
    check(out)
    assert [type(e).__name__ for e in out] == [
        "ResponseStart",
        "PartStart",
        "PartDelta",
        "PartEnd",
        "PartStart",
        "PartDelta",
        "PartEnd",
        "StreamFinish",
    ]
    assert stream.done


def test_checked_decoder_checks_each_feed_and_the_end() -> None:
    class Broken:
        def feed(self, data: bytes) -> list[ir.Event]:
            return [START, TEXT]

        def flush(self) -> list[ir.Event]:
            return []

    decoder = CheckedDecoder(Broken())
    assert decoder.feed(b"x") == [START, TEXT]
    with pytest.raises(GrammarError):
        decoder.flush()
