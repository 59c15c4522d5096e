"""Nesting depth of JSON bytes without parsing them: the one scanner crosswire has.

Three jobs need to know where brackets open and close outside strings: refusing a client body
nested too deep before Python's recursive parser sees it (``protocols.common``), finding the
top-level occurrence of a key in a body that is patched, not re-serialised (``jsonpatch``), and
cutting a streamed JSON array into its elements as they arrive (``streams.JSONArrayDecoder``).
``DepthScanner`` keeps its state between calls, so a chunk may end anywhere (inside a string,
after a backslash). It jumps from one interesting byte to the next with a regular expression:
base64 images and long texts are skipped at C speed, not byte by byte in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_OUTSIDE = re.compile(rb'[\[\]{}"]')
_INSIDE = re.compile(rb'["\\]')
_OPEN = frozenset(b"[{")


class DepthScanner:
    """Yields each bracket outside strings with the depth after it; see the module docstring."""

    __slots__ = ("depth", "escape", "in_string")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False  # the chunk ended on a backslash inside a string

    def scan(
        self, data: bytes | bytearray, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int]]:
        """``(position, depth after it)`` for each ``[ ] { }`` outside strings in
        ``data[start:end]``; ``depth`` counts opened minus closed brackets."""
        stop = len(data) if end is None else end
        i = start
        if self.escape and i < stop:
            self.escape = False
            i += 1
        while i < stop:
            if self.in_string:
                found = _INSIDE.search(data, i, stop)
                if found is None:
                    return
                i = found.start()
                if data[i] == 0x22:  # the closing quote
                    self.in_string = False
                    i += 1
                elif i + 1 < stop:  # a backslash: skip what it escapes
                    i += 2
                else:
                    self.escape = True
                    return
                continue
            found = _OUTSIDE.search(data, i, stop)
            if found is None:
                return
            i = found.start()
            c = data[i]
            if c == 0x22:
                self.in_string = True
            elif c in _OPEN:
                self.depth += 1
                yield i, self.depth
            else:
                self.depth -= 1
                yield i, self.depth
            i += 1


def max_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when ``data`` nests deeper than ``limit``."""
    return any(depth > limit for _, depth in DepthScanner().scan(data))


def depth_at(data: bytes, position: int) -> int:
    """The nesting depth at ``position`` (1 inside the top-level object)."""
    scanner = DepthScanner()
    for _ in scanner.scan(data, 0, position):
        pass
    return scanner.depth
