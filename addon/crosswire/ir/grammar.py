"""The event grammar of ``ir/events.py``, checked.

Encoders map events one to one because decoders promise the grammar; a decoder that breaks it
(a delta to a closed part, a second finish) makes every client encoder misbehave in its own
way. ``Grammar`` checks a sequence event by event, so tests run it on everything a stream
decoder produces, whole or chunk by chunk.

The rules:

* ``ResponseStart`` comes first, exactly once (a ``StreamError`` may come before it: a stream
  that failed before it started);
* ``PartStart`` indices are dense from 0; one part is open at a time;
* ``PartDelta`` goes to the open part, with a kind its part takes (``text`` to Text,
  ``reasoning``/``signature`` to Reasoning, ``arguments`` to ToolCall);
* ``PartEnd`` closes the open part;
* ``UsageUpdate`` only after the start;
* exactly one ``StreamFinish`` (no part open) or ``StreamError`` (a part may be open: the
  stream broke) ends the stream; nothing comes after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from crosswire.ir import events as ev
from crosswire.ir.parts import Part, Reasoning, Text, ToolCall

_KINDS: dict[type, frozenset[str]] = {
    Text: frozenset({"text"}),
    Reasoning: frozenset({"reasoning", "signature"}),
    ToolCall: frozenset({"arguments"}),
}


class GrammarError(AssertionError):
    """An event sequence that breaks the grammar: the position and what is wrong."""


class Grammar:
    """Checks events as they come (``add``) and the end of the stream (``end``)."""

    __slots__ = ("_count", "_ended", "_next", "_open", "_started")

    def __init__(self) -> None:
        self._count = 0
        self._started = False
        self._ended = False
        self._next = 0
        self._open: Part | None = None

    def add(self, event: ev.Event) -> None:
        position = self._count
        self._count += 1
        if self._ended:
            self._fail(position, event, "comes after the stream ended")
        match event:
            case ev.ResponseStart():
                if self._started:
                    self._fail(position, event, "a second ResponseStart")
                self._started = True
                return
            case ev.StreamError():
                self._ended = True
                return
        if not self._started:
            self._fail(position, event, "comes before ResponseStart")
        match event:
            case ev.PartStart():
                if self._open is not None:
                    self._fail(position, event, "opens a part while another is open")
                if event.index != self._next:
                    self._fail(position, event, f"index {event.index}, expected {self._next}")
                self._open = event.part
                self._next += 1
            case ev.PartDelta():
                self._to_open(position, event, event.index)
                kinds = _KINDS.get(type(self._open), frozenset())
                if event.kind not in kinds:
                    part = type(self._open).__name__
                    self._fail(position, event, f"a {event.kind!r} delta to a {part} part")
            case ev.PartEnd():
                self._to_open(position, event, event.index)
                self._open = None
            case ev.StreamFinish():
                if self._open is not None:
                    self._fail(position, event, f"finishes with part {self._next - 1} open")
                self._ended = True
            case ev.UsageUpdate():
                pass

    def end(self) -> None:
        """At the end of the decoder's output: the stream must have ended."""
        if not self._ended:
            raise GrammarError(
                f"after {self._count} events: no StreamFinish or StreamError at the end"
            )

    def _to_open(self, position: int, event: ev.Event, index: int) -> None:
        if self._open is None or index != self._next - 1:
            self._fail(position, event, f"index {index} is not the open part")

    @staticmethod
    def _fail(position: int, event: ev.Event, message: str) -> None:
        raise GrammarError(f"event {position} ({event.type}): {message}")


def check(events: Iterable[ev.Event], *, complete: bool = True) -> None:
    """Raise ``GrammarError`` where ``events`` break the grammar; with ``complete`` the
    sequence must also have ended (a whole decoded stream)."""
    grammar = Grammar()
    for event in events:
        grammar.add(event)
    if complete:
        grammar.end()


class _Decoder(Protocol):
    def feed(self, data: bytes) -> list[ev.Event]: ...

    def flush(self) -> list[ev.Event]: ...


class CheckedDecoder:
    """A stream decoder whose output is checked as it is produced (tests wrap every codec's
    decoders in it). ``flush`` checks that the stream ended."""

    __slots__ = ("_decoder", "_grammar")

    def __init__(self, decoder: _Decoder) -> None:
        self._decoder = decoder
        self._grammar = Grammar()

    def feed(self, data: bytes) -> list[ev.Event]:
        events: list[ev.Event] = self._decoder.feed(data)
        for event in events:
            self._grammar.add(event)
        return events

    def flush(self) -> list[ev.Event]:
        events: list[ev.Event] = self._decoder.flush()
        for event in events:
            self._grammar.add(event)
        self._grammar.end()
        return events
