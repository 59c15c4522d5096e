"""Framing: any split of the bytes gives the same frames (edges 1–4, 7, 8 of docs/edge-cases.md)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from crosswire.streams import JSONArrayDecoder, NDJSONDecoder, SSEDecoder, SSEFrame
from tests.unit.streamsplit import assert_split_invariant, feed_all

SSE = (
    'event: message_start\r\ndata: {"a": "日本語 😀"}\r\n\r\n'
    ": keep-alive comment\n\n"
    "data: line one\ndata: line two\n\n"
    'event: ping\rdata: {"type":"ping"}\r\r'
    "data: [DONE]\n\n"
).encode()


def test_sse_frames_with_crlf_cr_comments_and_multiline_data() -> None:
    frames = feed_all(SSEDecoder, [SSE])
    assert frames == [
        SSEFrame("message_start", '{"a": "日本語 😀"}'),
        SSEFrame(None, "line one\nline two"),
        SSEFrame("ping", '{"type":"ping"}'),
        SSEFrame(None, "[DONE]"),
    ]


def test_sse_every_split_including_inside_utf8_and_crlf() -> None:
    assert_split_invariant(SSEDecoder, SSE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(SSE) - 1), max_size=12))
def test_sse_random_multi_splits(cuts: list[int]) -> None:
    cuts = sorted(set(cuts))
    chunks = [SSE[a:b] for a, b in zip([0, *cuts], [*cuts, len(SSE)], strict=True)]
    assert feed_all(SSEDecoder, chunks) == feed_all(SSEDecoder, [SSE])


def test_sse_flush_dispatches_an_unterminated_last_event() -> None:
    assert feed_all(SSEDecoder, [b"data: x"]) == [SSEFrame(None, "x")]


def test_ndjson_lines_any_split() -> None:
    data = b'{"a":1}\n\n{"b":"\xc3\xa9"}\n{"done":true}'
    assert assert_split_invariant(NDJSONDecoder, data) == [{"a": 1}, {"b": "é"}, {"done": True}]


def test_json_array_elements_arrive_incrementally_any_split() -> None:
    elems = [{"text": 'a]}{"', "n": [1, {"x": 2}]}, {"t": "é\\"}, {}]
    data = ("[" + "\n,\r\n".join(json.dumps(e, indent=2) for e in elems) + "\n]").encode()
    assert assert_split_invariant(JSONArrayDecoder, data) == elems
    dec = JSONArrayDecoder()
    first = dec.feed(data[: data.index(b"\n,") + 1])
    assert first == [elems[0]]
