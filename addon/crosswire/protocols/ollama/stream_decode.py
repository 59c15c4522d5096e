"""An Ollama NDJSON stream → IR events.

Each line is a whole answer object with ``done: false``: text and ``thinking`` arrive as
fragments, tool calls and images whole (each becomes its own part, started and ended at
once). The line with ``done: true`` carries ``done_reason`` and the counts; a stream that ends
without it, or an ``{"error": …}`` line, is a ``StreamError`` (edge 8). Streamed ``logprobs``
have no place in the IR's events: they are dropped with a note.
"""

from __future__ import annotations

from typing import Any, Literal

from crosswire import ir
from crosswire.protocols.ollama.mapping import NAME, finish_in, usage_in
from crosswire.protocols.ollama.response import answer_parts
from crosswire.streams import NDJSONDecoder


class OllamaStreamDecoder:
    def __init__(self, report: ir.Report) -> None:
        self._nd = NDJSONDecoder()
        self._report = report
        self._started = False
        self._done = False
        self._next = 0  # the next part index
        self._open: Literal["text", "reasoning"] | None = None
        self._calls = 0
        self._seed = ""

    def feed(self, data: bytes) -> list[ir.Event]:
        out: list[ir.Event] = []
        for obj in self._nd.feed(data):
            self._obj(obj, out)
        return out

    def flush(self) -> list[ir.Event]:
        out: list[ir.Event] = []
        for obj in self._nd.flush():
            self._obj(obj, out)
        if not self._done:
            self._done = True
            out.append(
                ir.StreamError(
                    error=ir.Error.of("api_error", "upstream stream ended before done: true")
                )
            )
        return out

    def _obj(self, obj: Any, out: list[ir.Event]) -> None:
        if self._done or not isinstance(obj, dict):
            return
        if isinstance(obj.get("error"), str):
            self._done = True
            out.append(ir.StreamError(error=ir.Error.of("api_error", obj["error"])))
            return
        if not self._started:
            self._started = True
            created_at = obj.get("created_at")
            self._seed = str(created_at or "")
            out.append(
                ir.ResponseStart(id=f"ollama-{self._seed}", model=str(obj.get("model") or ""))
            )
        if obj.get("logprobs"):
            self._report.dropped("logprobs", "streamed log probabilities are not converted")
        for part in answer_parts(obj, self._seed, self._calls):
            if isinstance(part, ir.Text | ir.Reasoning):
                self._delta(part, out)
            else:
                self._whole(part, out)
        if obj.get("done") is True:
            self._close(out)
            has_calls = self._calls > 0
            out.append(
                ir.StreamFinish(
                    finish=finish_in(obj.get("done_reason"), has_calls), usage=usage_in(obj)
                )
            )
            self._done = True

    def _delta(self, part: ir.Text | ir.Reasoning, out: list[ir.Event]) -> None:
        kind: Literal["text", "reasoning"] = "text" if isinstance(part, ir.Text) else "reasoning"
        if self._open != kind:
            self._close(out)
            empty = ir.Text(text="") if kind == "text" else ir.Reasoning(origin=NAME)
            out.append(ir.PartStart(index=self._next, part=empty))
            self._open = kind
            self._next += 1
        out.append(ir.PartDelta(index=self._next - 1, kind=kind, text=part.text))

    def _whole(self, part: ir.Part, out: list[ir.Event]) -> None:
        """A tool call or an image: Ollama sends each whole, so it opens and closes here."""
        self._close(out)
        if isinstance(part, ir.ToolCall):
            self._calls += 1
            out.append(ir.PartStart(index=self._next, part=_no_arguments(part)))
            if part.arguments:
                out.append(ir.PartDelta(index=self._next, kind="arguments", text=part.arguments))
        else:
            out.append(ir.PartStart(index=self._next, part=part))
        out.append(ir.PartEnd(index=self._next))
        self._next += 1

    def _close(self, out: list[ir.Event]) -> None:
        if self._open is not None:
            out.append(ir.PartEnd(index=self._next - 1))
            self._open = None


def _no_arguments(call: ir.ToolCall) -> ir.ToolCall:
    return ir.ToolCall(id=call.id, name=call.name, arguments="", native=call.native)
