"""Streams and whole answers are two views of one thing.

``Accumulator`` folds stream events into a ``Response`` (a non-streaming app behind a
streaming-only backend, usage accounting, the mitmweb view); ``replay`` unfolds a ``Response``
into events (a streaming app behind a backend that answered whole). The property
``accumulate(replay(r)) == r`` is tested for every part type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from crosswire.ir import events as ev
from crosswire.ir.builder import StreamBuilder
from crosswire.ir.errors import Error
from crosswire.ir.events import Event
from crosswire.ir.parts import Part, Reasoning, Text, ToolCall
from crosswire.ir.response import Finish, Response, Usage


class Accumulator:
    """Folds events; text deltas are joined once at the end, not per event."""

    __slots__ = ("_chunks", "_parts", "created", "error", "finish", "id", "model", "usage")

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created: int | None = None
        self.usage = Usage()
        self.finish: Finish | None = None
        self.error: Error | None = None
        self._parts: list[Part] = []
        self._chunks: list[dict[str, list[str]]] = []

    def add(self, event: Event) -> None:
        match event:
            case ev.ResponseStart():
                self.id, self.model, self.created = event.id, event.model, event.created
                self.usage = self.usage.merged(event.usage)
            case ev.PartStart():
                self._parts.append(event.part)
                self._chunks.append({})
            case ev.PartDelta():
                self._chunks[event.index].setdefault(event.kind, []).append(event.text)
            case ev.PartEnd():
                pass
            case ev.UsageUpdate():
                self.usage = self.usage.merged(event.usage)
            case ev.StreamFinish():
                self.finish = event.finish
                self.usage = self.usage.merged(event.usage)
            case ev.StreamError():
                self.error = event.error

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def response(self) -> Response:
        parts = [_apply(p, c) for p, c in zip(self._parts, self._chunks, strict=True)]
        return Response(
            id=self.id,
            model=self.model,
            parts=tuple(parts),
            finish=self.finish or Finish(reason="error", raw=None),
            usage=self.usage,
            created=self.created,
        )


def _apply(part: Part, chunks: dict[str, list[str]]) -> Part:
    if not chunks:
        return part
    if isinstance(part, Text):
        return dataclasses.replace(part, text=part.text + "".join(chunks.get("text", ())))
    if isinstance(part, Reasoning):
        sig = "".join(chunks.get("signature", ()))
        return dataclasses.replace(
            part,
            text=part.text + "".join(chunks.get("reasoning", ())),
            signature=(part.signature or "") + sig if sig else part.signature,
        )
    if isinstance(part, ToolCall):
        return dataclasses.replace(
            part, arguments=part.arguments + "".join(chunks.get("arguments", ()))
        )
    return part


def accumulate(events: Iterable[Event]) -> Response:
    acc = Accumulator()
    acc.extend(events)
    return acc.response()


def replay(response: Response) -> list[Event]:
    """The events a streaming backend would have sent for ``response``: each part starts
    empty and receives its content as one delta (encoders see the usual shapes)."""
    events: list[Event] = []
    stream = StreamBuilder()
    stream.start(
        events, id=response.id, model=response.model, usage=response.usage, created=response.created
    )
    for part in response.parts:
        stream.whole(part, events)
    stream.finish(response.finish, events, response.usage)
    return events
