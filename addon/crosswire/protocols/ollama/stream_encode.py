"""IR events → an Ollama app's NDJSON stream (``application/x-ndjson``).

One ``done: false`` line per text or thinking delta, one per tool call (sent whole at its
end: Ollama apps never see argument fragments) and per image, then the ``done: true`` line
with ``done_reason`` and the counts. Every line validates as the app SDK's ``ChatResponse`` /
``GenerateResponse``. An error mid-stream is an ``{"error": …}`` line, which Ollama's clients
raise as a ``ResponseError``. The constant head of each line (model, ``created_at``) is
serialised once per stream.
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.ollama.mapping import created_out, done_fields
from crosswire.protocols.ollama.response import content

_NOT_DONE = b',"done":false}\n'


class OllamaStreamEncoder(EventEncoder):
    content_type = "application/x-ndjson"

    def __init__(self, call: ClientCall, request: ir.Request, report: ir.Report) -> None:
        super().__init__()
        self._generate = call.variant == "generate"
        self._report = report
        self._model = request.model
        self._head = b""
        self._calls: dict[int, ir.ToolCall] = {}
        self._args: dict[int, list[str]] = {}
        if self._generate:
            self._text_open = b',"response":'
            self._thinking_open = b',"response":"","thinking":'
            self._fragment_close = _NOT_DONE
        else:
            self._text_open = b',"message":{"role":"assistant","content":'
            self._thinking_open = b',"message":{"role":"assistant","content":"","thinking":'
            self._fragment_close = b"}" + _NOT_DONE

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        self._model = event.model or self._model
        self._head = self._make_head(event.created)
        self._usage = self._usage.merged(event.usage)
        return b""

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        if isinstance(part, ir.ToolCall):
            self._calls[index] = part
            self._args[index] = [part.arguments]
        elif isinstance(part, ir.Text) and part.text:
            return self._text(part.text)
        elif isinstance(part, ir.Reasoning) and part.text:
            return self._thinking(part.text)
        elif isinstance(part, ir.File):
            return self._line(content((part,), self._generate, self._report))
        elif isinstance(part, ir.Opaque):
            content((part,), self._generate, self._report)  # notes the drop
        return b""

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        if event.kind == "text":
            return self._text(event.text)
        if event.kind == "reasoning":
            return self._thinking(event.text)
        if event.kind == "arguments" and event.index in self._args:
            self._args[event.index].append(event.text)
        return b""

    def _part_end(self, index: int) -> bytes:
        call = self._calls.pop(index, None)
        if call is not None and self._generate:
            self._report.dropped("tool calls", "/api/generate answers carry no tool calls")
        elif call is not None:
            arguments = "".join(self._args.pop(index, []))
            whole = ir.ToolCall(id=call.id, name=call.name, arguments=arguments)
            return self._line(content((whole,), self._generate, self._report))
        return b""

    def _finish(self, event: ir.StreamFinish) -> bytes:
        self._usage = self._usage.merged(event.usage)
        last = content((), self._generate, self._report)
        last.update(done_fields(event.finish, self._usage))
        return self._head_or_new() + b"," + dumps(last)[1:] + b"\n"

    def _fail(self, error: ir.Error) -> bytes:
        return dumps({"error": error.message}) + b"\n"

    def _text(self, text: str) -> bytes:
        return self._fragment(self._text_open, text)

    def _thinking(self, text: str) -> bytes:
        return self._fragment(self._thinking_open, text)

    def _fragment(self, opening: bytes, text: str) -> bytes:
        return self._head_or_new() + opening + dumps(text) + self._fragment_close

    def _line(self, fields: dict[str, Any]) -> bytes:
        return self._head_or_new() + b"," + dumps(fields)[1:-1] + _NOT_DONE

    def _make_head(self, created: int | None) -> bytes:
        """``{"model":…,"created_at":…`` — the open head every line starts with."""
        return dumps({"model": self._model, "created_at": created_out(created)})[:-1]

    def _head_or_new(self) -> bytes:
        if not self._head:
            self._head = self._make_head(None)
        return self._head


def encoder(call: ClientCall, request: ir.Request, report: ir.Report) -> OllamaStreamEncoder:
    return OllamaStreamEncoder(call, request, report)
