"""Tool names longer than a wire allows (64 characters for most) are shortened on the way up
(``ir.ids.short_name``: deterministic, so every turn shortens alike) and given back their
original names in the answer, whole or streamed. Codecs never shorten names themselves."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from crosswire import ir
from crosswire.ir.ids import short_name
from crosswire.pipeline.step import Context, EventFilter, Step


class ToolNames(Step):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.originals: dict[str, str] = {}  # short → original

    def up(self, request: ir.Request) -> ir.Request:
        names = {t.name for t in request.tools}
        for message in request.messages:
            names.update(p.name for p in message.parts if isinstance(p, ir.ToolCall))
        mapping = {n: short for n in names if (short := short_name(n)) != n}
        if not mapping:
            return request
        self.originals = {v: k for k, v in mapping.items()}
        for original, short in mapping.items():
            self.context.report.renamed(
                f"tool {original}", f"sent upstream as {short} (name limits)"
            )
        tools = tuple(
            dataclasses.replace(t, name=mapping.get(t.name, t.name)) for t in request.tools
        )
        messages = tuple(
            dataclasses.replace(m, parts=tuple(_rename(p, mapping) for p in m.parts))
            for m in request.messages
        )
        choice = request.tool_choice
        if choice is not None and choice.name in mapping:
            choice = dataclasses.replace(choice, name=mapping[choice.name])
        return dataclasses.replace(request, tools=tools, messages=messages, tool_choice=choice)

    def down(self, response: ir.Response) -> ir.Response:
        if not self.originals:
            return response
        parts = tuple(_rename(p, self.originals) for p in response.parts)
        return dataclasses.replace(response, parts=parts)

    def stream(self) -> EventFilter | None:
        if not self.originals:
            return None
        originals = self.originals

        def restore(event: ir.Event) -> list[ir.Event]:
            if isinstance(event, ir.PartStart) and isinstance(event.part, ir.ToolCall):
                return [dataclasses.replace(event, part=_rename(event.part, originals))]
            return [event]

        return restore


def _rename(part: ir.Part, mapping: Mapping[str, str]) -> ir.Part:
    if isinstance(part, ir.ToolCall) and part.name in mapping:
        return dataclasses.replace(part, name=mapping[part.name])
    if isinstance(part, ir.ToolResult) and part.name is not None and part.name in mapping:
        return dataclasses.replace(part, name=mapping[part.name])
    return part
