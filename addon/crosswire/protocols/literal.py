"""A text delta's JSON string literal carried from one wire to the other as it came.

Why: most events of a converted stream are text deltas, and decoding one (SSE lines, the
JSON object, the IR event) to write the same string into another protocol's chunk costs about
7 µs warm — and ten times that when the event arrives after a pause, with the proxy's caches
cold, which is what a reader waiting for the next token sees. The string's bytes need no work
at all when re-encoding it would give them back unchanged: ``common.dumps`` (compact,
``ensure_ascii=False``) writes ``"`` ``\\`` newline, carriage return and tab as the two-byte
escapes, every other control character as ``\\u00XX``, and everything else as UTF-8. So a
literal made only of UTF-8 text and those five escapes is already what the slow path would
write; any other literal (``\\u`` escapes, ``\\/``, invalid UTF-8) takes the slow path.

A decoder that can tell a text-delta frame offers ``literal_text(frame)``; an encoder that
can write one offers ``text_literal(index, literal)`` (``convert.StreamConverter`` pairs them).
"""

from __future__ import annotations

#: A JSON string literal, quotes included, of UTF-8 text with only the five short escapes
#: (possessive: runs of plain bytes are taken whole, never given back — a third of the time).
TEXT_LITERAL = rb'"(?:[^"\\\x00-\x1f]++|\\[nrt"\\])*+"'


def carries(literal: bytes) -> bool:
    """Whether the matched literal is valid UTF-8 (the slow path would replace bad bytes)."""
    if literal.isascii():
        return True
    try:
        literal.decode()
    except UnicodeDecodeError:
        return False
    return True
