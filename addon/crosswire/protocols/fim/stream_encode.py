"""IR events → the app's FIM (chunk-shaped, like chat) or completions (``text``) stream.

FIM streams carry usage on the finishing chunk unless the app turned it off; completions
streams only when the app asked (``stream_options.include_usage``). Errors mid-stream are
written in the app's dialect (Mistral's flat object for its SDK, else OpenAI's envelope).
"""

from __future__ import annotations

import time
from typing import Any

from crosswire import ir
from crosswire.protocols import openai_errors
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.fim.mapping import CHAT_SHAPED, FINISH_OUT, usage_out


class FimStreamEncoder(EventEncoder):
    def __init__(self, request: ir.Request, chat_shaped: bool, dialect: str = "openai") -> None:
        super().__init__()
        self._chat = chat_shaped
        self._dialect = dialect
        self._model = request.model
        self._include_usage = (
            request.include_usage is not False if chat_shaped else bool(request.include_usage)
        )
        self._id = "cmpl-crosswire"
        self._set_text_chunk()

    def _set_text_chunk(self) -> None:
        """The constant pieces of a text chunk (around its ``created`` and its text), built
        when the id or model is known rather than per delta."""
        obj = b"chat.completion.chunk" if self._chat else b"text_completion"
        self._before_created = b'data: {"id":' + dumps(self._id) + b',"object":"' + obj
        self._before_created += b'","created":'
        self._before_text = b',"model":' + dumps(self._model) + b',"choices":[{"index":0,'
        if self._chat:
            self._before_text += b'"delta":{"content":'
            self._after_text = b'},"finish_reason":null}]}\n\n'
        else:
            self._before_text += b'"text":'
            self._after_text = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def _text_chunk(self, text: str) -> bytes:
        """A chunk with text and no finish: only the text and the time are serialised."""
        created = b"%d" % int(time.time())
        return self._before_created + created + self._before_text + dumps(text) + self._after_text

    def _last_chunk(self, finish: str, usage: ir.Usage | None) -> bytes:
        if self._chat:
            choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": "", "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        payload: dict[str, Any] = {
            "id": self._id,
            "object": obj,
            "created": int(time.time()),
            "model": self._model,
            "choices": [choice],
        }
        if usage is not None:
            payload["usage"] = usage_out(usage)
        return _data(payload)

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        self._id = event.id or self._id
        self._model = event.model or self._model
        self._set_text_chunk()
        return self._text_chunk("") if self._chat else b""

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        return self._text_chunk(part.text) if isinstance(part, ir.Text) and part.text else b""

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        return self._text_chunk(event.text) if event.kind == "text" else b""

    def _finish(self, event: ir.StreamFinish) -> bytes:
        usage = self._usage.merged(event.usage)
        finish = FINISH_OUT.get(event.finish.reason, "stop")
        final = self._last_chunk(finish, usage if self._include_usage else None)
        return final + b"data: [DONE]\n\n"

    def _fail(self, error: ir.Error) -> bytes:
        return _data(openai_errors.stream_body(error, self._dialect))


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


def encoder(call: ClientCall, request: ir.Request, report: ir.Report) -> FimStreamEncoder:
    return FimStreamEncoder(request, call.protocol == CHAT_SHAPED, call.dialect)
