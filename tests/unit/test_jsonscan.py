"""The one JSON depth scanner: brackets inside strings and escapes never count, and any chunk
split gives the same brackets."""

from __future__ import annotations

from crosswire.jsonscan import DepthScanner, depth_at, max_depth_exceeds
from tests.unit.streamsplit import splits

BODY = rb'{"a": "[{\"}", "b": [1, {"c": "\\"}], "d": "x\\\\"}'


def _brackets(chunks: list[bytes]) -> list[tuple[int, int]]:
    scanner, seen, offset = DepthScanner(), [], 0
    for chunk in chunks:
        seen += [(offset + i, d) for i, d in scanner.scan(chunk)]
        offset += len(chunk)
    return seen


def test_brackets_in_strings_and_escapes_do_not_count_in_any_split() -> None:
    expected = [(0, 1), (BODY.index(b"[1"), 2), (BODY.index(b'{"c'), 3)]
    expected += [(BODY.index(b"}]"), 2), (BODY.index(b"]"), 1), (len(BODY) - 1, 0)]
    for chunks in splits(BODY):
        assert _brackets(chunks) == expected


def test_depth_at_and_the_limit() -> None:
    assert depth_at(BODY, BODY.index(b'"b"')) == 1
    assert depth_at(BODY, BODY.index(b'"c"')) == 3
    assert not max_depth_exceeds(b"[" * 5 + b"]" * 5, 5)
    assert max_depth_exceeds(b"[" * 6 + b"]" * 6, 5)
    assert not max_depth_exceeds(b'["' + b"[" * 50 + b'"]', 5)
