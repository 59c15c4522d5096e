"""The bookkeeping every stream decoder needs to keep the event grammar (``ir/grammar.py``).

Each decoder maps its wire's frames to parts in its own way, but all of them must say
``ResponseStart`` once, give parts dense indices, keep one part open at a time and end with
one terminal event. ``StreamBuilder`` holds that state once: the decoder says what it has
(``begin`` a part, ``delta`` to it, ``close`` it, ``finish`` or ``fail``) and the builder writes
the events with the right indices. ``tag`` is the decoder's own name for what the open part is
(``"text"``, ``"reasoning"``, a tool-call record…), so "is a text part open?" is one comparison.
"""

from __future__ import annotations

import dataclasses

from crosswire.ir import events as ev
from crosswire.ir.errors import Error
from crosswire.ir.parts import Part, Reasoning, Text, ToolCall
from crosswire.ir.response import Finish, Usage


class StreamBuilder:
    """Writes a decoder's events into the ``out`` list it is given; see the module docstring."""

    __slots__ = ("done", "next", "started", "tag")

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.next = 0  # the index the next part gets
        #: What the open part is, in the decoder's terms; ``None`` when no part is open.
        self.tag: object | None = None

    @property
    def index(self) -> int:
        """The open part's index (the last one started)."""
        return self.next - 1

    def start(
        self,
        out: list[ev.Event],
        *,
        id: str = "",
        model: str = "",
        usage: Usage | None = None,
        created: int | None = None,
    ) -> None:
        """``ResponseStart``, unless it went out already."""
        if self.started:
            return
        self.started = True
        out.append(ev.ResponseStart(id=id, model=model, usage=usage or Usage(), created=created))

    def begin(self, part: Part, out: list[ev.Event], tag: object = True) -> int:
        """Close the open part and start ``part``; returns its index."""
        self.close(out)
        index = self.next
        out.append(ev.PartStart(index=index, part=part))
        self.next += 1
        self.tag = tag
        return index

    def delta(self, kind: ev.DeltaKind, text: str, out: list[ev.Event]) -> None:
        """A fragment for the open part (nothing for an empty one)."""
        if text:
            out.append(ev.PartDelta(index=self.next - 1, kind=kind, text=text))

    def close(self, out: list[ev.Event]) -> None:
        if self.tag is not None:
            out.append(ev.PartEnd(index=self.next - 1))
            self.tag = None

    def whole(self, part: Part, out: list[ev.Event]) -> int:
        """A part that arrived complete: started empty, its content as one delta, ended."""
        if isinstance(part, ToolCall):
            self.begin(dataclasses.replace(part, arguments=""), out)
            self.delta("arguments", part.arguments, out)
        elif isinstance(part, Text):
            self.begin(dataclasses.replace(part, text=""), out)
            self.delta("text", part.text, out)
        elif isinstance(part, Reasoning) and part.redacted is None:
            self.begin(dataclasses.replace(part, text="", signature=None), out)
            self.delta("reasoning", part.text, out)
            self.delta("signature", part.signature or "", out)
        else:
            self.begin(part, out)
        index = self.next - 1
        self.close(out)
        return index

    def finish(self, finish: Finish, out: list[ev.Event], usage: Usage | None = None) -> None:
        """Close what is open and end the stream with ``StreamFinish``."""
        self.close(out)
        self.start(out)
        out.append(ev.StreamFinish(finish=finish, usage=usage or Usage()))
        self.done = True

    def fail(self, error: Error, out: list[ev.Event], *, close: bool = False) -> None:
        """End the stream with ``StreamError`` (the open part is left open unless ``close``:
        the stream broke inside it)."""
        if close:
            self.close(out)
        out.append(ev.StreamError(error=error))
        self.done = True
