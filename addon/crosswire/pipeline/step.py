"""What a pipeline step is: an IR→IR change on the way up and its undoing on the way down.

A step is made for one exchange (it may remember what it changed: the tool names it
shortened, that it bridged a FIM prompt) and sees the backend's codec and target, and the
exchange's report, where it names what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crosswire import ir
from crosswire.protocols.base import Codec, Target

#: A stream filter: one event in, the events to pass on out (none, the same, or others).
EventFilter = Callable[[ir.Event], list[ir.Event]]


@dataclass(frozen=True, slots=True)
class Context:
    backend: Codec
    target: Target
    report: ir.Report


class Step:
    """The identity step; each step overrides what it changes."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def up(self, request: ir.Request) -> ir.Request:
        """The request as the backend gets it."""
        return request

    def down(self, response: ir.Response) -> ir.Response:
        """A whole answer with this step's change undone."""
        return response

    def stream(self) -> EventFilter | None:
        """A fresh filter that undoes this step's change on one stream (None: nothing to do)."""
        return None
