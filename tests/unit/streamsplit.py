"""Feed a stream codec the same bytes split in many ways; all splits must agree.

Used by every stream codec's tests: whole, byte by byte, and every two-way split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Feeder(Protocol):
    def feed(self, data: bytes) -> list[Any]: ...

    def flush(self) -> list[Any]: ...


def feed_all(make: Callable[[], Feeder], chunks: Iterable[bytes]) -> list[Any]:
    decoder = make()
    out: list[Any] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.flush())
    return out


def splits(data: bytes, *, every: bool = True) -> Iterable[list[bytes]]:
    """Whole, byte by byte, and (when ``every``) each two-way split."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    if every:
        step = max(1, len(data) // 400)  # bound the work on large fixtures
        for cut in range(1, len(data), step):
            yield [data[:cut], data[cut:]]


def assert_split_invariant(
    make: Callable[[], Feeder], data: bytes, *, every: bool = True
) -> list[Any]:
    expected = feed_all(make, [data])
    for chunks in splits(data, every=every):
        got = feed_all(make, chunks)
        assert got == expected, f"split {[len(c) for c in chunks][:5]}... differs"
    return expected
