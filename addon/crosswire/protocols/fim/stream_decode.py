"""Upstream FIM / completions streams → IR events (either shape: ``delta.content`` or
``text`` per chunk, ``data: [DONE]`` at the end; an EOF before it is a ``StreamError``)."""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols import openai_errors
from crosswire.protocols.fim.mapping import FINISH_IN, usage_in
from crosswire.protocols.fim.response import choice_text
from crosswire.streams import SSEEventDecoder


class FimStreamDecoder(SSEEventDecoder):
    def __init__(self) -> None:
        super().__init__()
        self._finish: str | None = None
        self._usage = ir.Usage()

    def _eof(self, out: list[ir.Event]) -> None:
        if self._finish is not None:
            self._end(out)
        else:
            error = ir.Error.of("api_error", "upstream stream ended before [DONE]")
            self._stream.fail(error, out)

    def _done(self, out: list[ir.Event]) -> None:
        self._end(out)

    def _event(self, chunk: dict[str, Any], out: list[ir.Event]) -> None:
        error = openai_errors.chunk_error(chunk)
        if error is not None:
            self._stream.fail(error, out)
            return
        rid, model = str(chunk.get("id") or ""), str(chunk.get("model") or "")
        self._stream.start(out, id=rid, model=model)
        if isinstance(chunk.get("usage"), dict):
            self._usage = self._usage.merged(usage_in(chunk["usage"]))
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            text = choice_text(choice)
            if text:
                if self._stream.tag is None:
                    self._stream.begin(ir.Text(text=""), out)
                self._stream.delta("text", text, out)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])

    def _end(self, out: list[ir.Event]) -> None:
        reason = FINISH_IN.get(self._finish or "stop", "stop")
        self._stream.finish(ir.Finish(reason=reason, raw=self._finish), out, self._usage)


def decoder(request: ir.Request, report: ir.Report) -> FimStreamDecoder:
    return FimStreamDecoder()
