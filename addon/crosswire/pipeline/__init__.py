"""The IR→IR steps between the app's decoded request and the backend's encoder.

On the way up each step changes the request in this order; on the way down the steps undo
their changes in the reverse order, on a whole answer or event by event on a stream:

1. ``rename``     the route's model replaces the app's (nothing to undo);
2. ``orphans``    tool calls without results and results without calls are dropped;
3. ``tool_names`` names longer than wires allow are shortened (restored in the answer);
4. ``fim_bridge`` a FIM prompt to a chat backend becomes a chat request (the answer is cleaned
                  to the middle only);
5. ``clamp``      ``max_tokens`` is clamped to the backend's ceiling, or invented where the
                  backend requires one.

Each step names what it changed in the exchange's report. Codecs see only the result: they
never rename, shorten, bridge or clamp.
"""

from __future__ import annotations

from crosswire import ir
from crosswire.pipeline.clamp import Clamp
from crosswire.pipeline.fim_bridge import FimBridge
from crosswire.pipeline.orphans import Orphans
from crosswire.pipeline.rename import ModelRename
from crosswire.pipeline.step import Context, EventFilter, Step
from crosswire.pipeline.tool_names import ToolNames
from crosswire.protocols.base import Codec, Target

STEPS: tuple[type[Step], ...] = (ModelRename, Orphans, ToolNames, FimBridge, Clamp)


class Pipeline:
    """The steps of one exchange (they remember what they changed, to undo it)."""

    __slots__ = ("steps",)

    def __init__(self, backend: Codec, target: Target, report: ir.Report) -> None:
        context = Context(backend=backend, target=target, report=report)
        self.steps = tuple(step(context) for step in STEPS)

    def up(self, request: ir.Request) -> ir.Request:
        for step in self.steps:
            request = step.up(request)
        return request

    def down(self, response: ir.Response) -> ir.Response:
        for step in reversed(self.steps):
            response = step.down(response)
        return response

    def stream_filters(self) -> list[EventFilter]:
        """Fresh filters for one streamed answer, in the order they apply."""
        return [f for step in reversed(self.steps) if (f := step.stream()) is not None]


__all__ = ["STEPS", "Context", "EventFilter", "Pipeline", "Step"]
