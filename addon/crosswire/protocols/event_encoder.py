"""The shared shape of every stream encoder: one method per IR event.

Each protocol writes its own chunks, but every encoder takes the same events in the same
grammar (``ir/grammar.py``): ``encode`` dispatches them here once, folds ``UsageUpdate`` into
``_usage``, and writes nothing after the terminal event (``_done``). A subclass implements the
methods its wire needs; a part event it has no method for writes nothing.
"""

from __future__ import annotations

from crosswire import ir


class EventEncoder:
    __slots__ = ("_done", "_usage")

    content_type = "text/event-stream; charset=utf-8"
    #: Whether ``text_literal`` writes text deltas from their JSON literal
    #: (``protocols/literal.py``).
    takes_literal_text = False

    def __init__(self) -> None:
        self._done = False
        self._usage = ir.Usage()

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:  # the most frequent events first
            case ir.PartDelta():
                return self._part_delta(event)
            case ir.PartStart():
                return self._ensure_started() + self._part_start(event.index, event.part)
            case ir.PartEnd():
                return self._part_end(event.index)
            case ir.ResponseStart():
                return self._response_start(event)
            case ir.UsageUpdate():
                self._usage = self._usage.merged(event.usage)
                return b""
            case ir.StreamFinish():
                self._done = True
                return self._finish(event)
            case ir.StreamError():
                self._done = True
                return self._fail(event.error)
        return b""

    def text_literal(self, index: int, literal: bytes) -> bytes | None:
        """What ``encode`` would write for a text ``PartDelta`` of part ``index`` whose text is
        the JSON string ``literal`` (given as it came; re-encoding it would not change it).
        None when this encoder cannot say so now: the event then goes to ``encode``."""
        return None

    def close(self) -> bytes:
        """At end of stream: nothing, unless the wire must still say something."""
        return b""

    def _ensure_started(self) -> bytes:
        """What must precede a part when the stream has not started yet (``ResponseStart`` is
        optional before a part on the way out)."""
        return b""

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        return b""

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        return b""

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        return b""

    def _part_end(self, index: int) -> bytes:
        return b""

    def _finish(self, event: ir.StreamFinish) -> bytes:
        raise NotImplementedError

    def _fail(self, error: ir.Error) -> bytes:
        raise NotImplementedError
