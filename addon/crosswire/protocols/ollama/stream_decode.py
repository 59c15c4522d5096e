"""An Ollama NDJSON stream → IR events.

Each line is a whole answer object with ``done: false``: text and ``thinking`` arrive as
fragments, tool calls and images whole (each becomes its own part, started and ended at
once). The line with ``done: true`` carries ``done_reason`` and the counts; a stream that ends
without it, or an ``{"error": …}`` line, is a ``StreamError`` (edge 8). Streamed ``logprobs``
have no place in the IR's events: they are dropped with a note.
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.builder import StreamBuilder
from crosswire.protocols.ollama.mapping import NAME, finish_in, usage_in
from crosswire.protocols.ollama.response import answer_parts
from crosswire.streams import NDJSONDecoder


class OllamaStreamDecoder:
    def __init__(self, report: ir.Report) -> None:
        self._nd = NDJSONDecoder()
        self._report = report
        self._stream = StreamBuilder()
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
        if not self._stream.done:
            error = ir.Error.of("api_error", "upstream stream ended before done: true")
            self._stream.fail(error, out)
        return out

    def _obj(self, obj: Any, out: list[ir.Event]) -> None:
        stream = self._stream
        if stream.done or not isinstance(obj, dict):
            return
        if isinstance(obj.get("error"), str):
            stream.fail(ir.Error.of("api_error", obj["error"]), out)
            return
        if not stream.started:
            self._seed = str(obj.get("created_at") or "")
            stream.start(out, id=f"ollama-{self._seed}", model=str(obj.get("model") or ""))
        if obj.get("logprobs"):
            self._report.dropped("logprobs", "streamed log probabilities are not converted")
        for part in answer_parts(obj, self._seed, self._calls):
            if isinstance(part, ir.Text):
                if stream.tag != "text":
                    stream.begin(ir.Text(text=""), out, "text")
                stream.delta("text", part.text, out)
            elif isinstance(part, ir.Reasoning):
                if stream.tag != "reasoning":
                    stream.begin(ir.Reasoning(origin=NAME), out, "reasoning")
                stream.delta("reasoning", part.text, out)
            else:  # a tool call or an image: Ollama sends each whole
                self._calls += isinstance(part, ir.ToolCall)
                stream.whole(part, out)
        if obj.get("done") is True:
            finish = finish_in(obj.get("done_reason"), self._calls > 0)
            stream.finish(finish, out, usage_in(obj))


def decoder(request: ir.Request, report: ir.Report) -> OllamaStreamDecoder:
    return OllamaStreamDecoder(report)
