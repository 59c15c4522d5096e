"""Tool calls without results and results without calls.

History trimming in apps leaves them behind, and every provider refuses such a history
(edge 42): they are dropped, cascading, with a note. Calls in the last message are kept: their
results are what the app is about to send.
"""

from __future__ import annotations

import dataclasses

from crosswire import ir
from crosswire.pipeline.step import Step


class Orphans(Step):
    def up(self, request: ir.Request) -> ir.Request:
        messages = request.messages
        calls = {p.id for m in messages for p in m.parts if isinstance(p, ir.ToolCall)}
        results = {p.call_id for m in messages for p in m.parts if isinstance(p, ir.ToolResult)}
        last = len(messages) - 1
        orphan_results = results - calls
        orphan_calls = {
            p.id
            for i, m in enumerate(messages)
            if i != last
            for p in m.parts
            if isinstance(p, ir.ToolCall) and p.id not in results
        }
        if not orphan_results and not orphan_calls:
            return request
        kept = []
        for message in messages:
            parts = tuple(
                p
                for p in message.parts
                if not (isinstance(p, ir.ToolResult) and p.call_id in orphan_results)
                and not (isinstance(p, ir.ToolCall) and p.id in orphan_calls)
            )
            if parts or not message.parts or message.role not in ("tool", "assistant"):
                kept.append(dataclasses.replace(message, parts=parts))
        report = self.context.report
        if orphan_calls:
            report.dropped(
                "orphan tool calls", f"{len(orphan_calls)} call(s) without a result in the history"
            )
        if orphan_results:
            report.dropped(
                "orphan tool results", f"{len(orphan_results)} result(s) without their call"
            )
        return dataclasses.replace(request, messages=tuple(kept))
