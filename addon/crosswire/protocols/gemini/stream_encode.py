"""IR events → a Gemini client's stream.

``ClientCall.variant`` says which framing the app asked for: ``sse`` (``?alt=sse``, what
google-genai and Gemini CLI use) → ``data: {GenerateContentResponse}\\r\\n\\r\\n`` per chunk
and no terminator; ``json-array`` → one JSON array written incrementally, ``[`` + chunks
separated by ``,\\r\\n`` + ``]``, served as ``application/json`` (edge case 7).

Text and thought deltas become chunks as they arrive. A function call is emitted as one
complete ``functionCall`` part when its IR part ends, because Gemini never streams partial
arguments and its clients expect whole ``args`` objects. The last chunk carries
``finishReason`` and ``usageMetadata``. An error becomes a final
``{"error": {code, message, status}}`` element in either framing.

Performance: the constant head and tail of a chunk are built once per stream; per delta only
the text is serialised.
"""

from __future__ import annotations

from typing import Any, Final

from crosswire.ir import (
    Error,
    File,
    Opaque,
    Part,
    PartDelta,
    Reasoning,
    Report,
    Request,
    ResponseStart,
    StreamFinish,
    Text,
    ToolCall,
)
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps_str
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.gemini import parts
from crosswire.protocols.gemini.errors import error_object
from crosswire.protocols.gemini.rawjson import dumps
from crosswire.protocols.gemini.response import finish_out, shows_thoughts
from crosswire.protocols.gemini.tokens import metadata_from_usage

_HEAD: Final = '{"candidates":[{"content":{"parts":['
_SEPARATOR: Final = b",\r\n"
_SSE_PREFIX: Final = b"data: "
_SSE_END: Final = b"\r\n\r\n"


def _json(value: str) -> str:
    return dumps_str(value)


class GeminiStreamEncoder(EventEncoder):
    """One streamed answer to a Gemini client."""

    __slots__ = (
        "_args",
        "_call",
        "_closed",
        "_id",
        "_kind",
        "_model",
        "_opened",
        "_report",
        "_show_thoughts",
        "_signature",
        "_signed",
        "_sse",
        "_tail",
        "_text_native",
        "content_type",
    )

    def __init__(self, call: ClientCall, request: Request, report: Report) -> None:
        super().__init__()
        self._sse = call.variant != "json-array"
        self.content_type = "text/event-stream" if self._sse else "application/json"
        self._report = report
        self._show_thoughts = shows_thoughts(request)
        self._model = request.model
        self._id = ""
        self._tail = ""
        self._opened = False
        self._closed = False
        self._kind: str | None = None
        self._text_native: Any = None
        self._signed = False
        self._signature: list[str] = []
        self._call: ToolCall | None = None
        self._args: list[str] = []
        self._set_tail()

    def _set_tail(self) -> None:
        self._tail = (
            '],"role":"model"},"index":0}],"modelVersion":'
            + _json(self._model)
            + ',"responseId":'
            + _json(self._id)
            + "}"
        )

    # ---- framing ------------------------------------------------------------------------

    def _frame(self, chunk: str) -> bytes:
        if self._closed:
            return b""
        data = chunk.encode()
        if self._sse:
            return _SSE_PREFIX + data + _SSE_END
        if not self._opened:
            self._opened = True
            return b"[" + data
        return _SEPARATOR + data

    def _parts_chunk(self, part_json: str) -> bytes:
        return self._frame(_HEAD + part_json + self._tail)

    # ---- events -------------------------------------------------------------------------

    def _response_start(self, event: ResponseStart) -> bytes:
        self._id = event.id
        self._model = event.model or self._model
        self._usage = self._usage.merged(event.usage)
        self._set_tail()
        return b""

    def _part_start(self, index: int, part: Part) -> bytes:
        self._kind = part.type
        if isinstance(part, Text):
            self._text_native = part.native if parts.gemini_native(part.native) else None
            return self._text(part.text) if part.text else b""
        if isinstance(part, Reasoning):
            self._signed = part.origin == parts.NAME
            self._signature = [part.signature] if part.signature and self._signed else []
            return self._thought(part.text)
        if isinstance(part, ToolCall):
            self._call = part
            self._args = [part.arguments] if part.arguments else []
            return b""
        if isinstance(part, File):
            return self._parts_chunk(dumps(parts.file_part(part, upstream=False)).decode())
        if isinstance(part, Opaque):
            if part.origin == parts.NAME:
                return self._parts_chunk(dumps(dict(part.data)).decode())
            self._report.dropped(f"{part.origin} block", "no Gemini equivalent")
        return b""

    def _text(self, text: str) -> bytes:
        if self._text_native is not None:  # the first chunk of a part with metadata
            native, self._text_native = self._text_native, None
            return self._parts_chunk(
                dumps(parts.text_part(Text(text=text, native=native))).decode()
            )
        return self._parts_chunk('{"text":' + _json(text) + "}")

    def _thought(self, text: str) -> bytes:
        if not self._show_thoughts or not text:
            return b""
        return self._parts_chunk('{"text":' + _json(text) + ',"thought":true}')

    def _part_delta(self, event: PartDelta) -> bytes:
        kind, text = event.kind, event.text
        if kind == "text":
            return self._text(text) if text else b""
        if kind == "reasoning":
            return self._thought(text)
        if kind == "signature":
            if self._signed:
                self._signature.append(text)
            return b""
        if kind == "arguments":
            self._args.append(text)
        return b""

    def _part_end(self, index: int) -> bytes:
        kind, self._kind = self._kind, None
        if kind == "tool_call" and self._call is not None:
            call = ToolCall(
                id=self._call.id,
                name=self._call.name,
                arguments="".join(self._args),
                native=self._call.native,
            )
            self._call, self._args = None, []
            wire = parts.call_part(call, self._report, signature=parts.call_signature(call))
            return self._parts_chunk(dumps(wire).decode())
        if kind == "text" and self._text_native is not None:
            return self._text("")  # a signature on an empty text part
        if kind == "reasoning" and self._signature:
            signature = "".join(self._signature)
            self._signature = []
            return self._parts_chunk(
                '{"text":"","thought":true,"thoughtSignature":' + _json(signature) + "}"
            )
        return b""

    def _finish(self, event: StreamFinish) -> bytes:
        self._usage = self._usage.merged(event.usage)
        return self._last_chunk(finish_out(event.finish))

    def _last_chunk(self, reason: str) -> bytes:
        chunk = (
            _HEAD + '{"text":""}],"role":"model"},"finishReason":' + _json(reason) + ',"index":0}]'
        )
        usage = metadata_from_usage(self._usage)
        if usage is not None:
            chunk += ',"usageMetadata":' + dumps(usage).decode()
        chunk += ',"modelVersion":' + _json(self._model) + ',"responseId":' + _json(self._id) + "}"
        out = self._frame(chunk)
        return out + self._close_array()

    def _fail(self, error: Error) -> bytes:
        out = self._frame(dumps(error_object(error)).decode())
        return out + self._close_array()

    def _close_array(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return b"" if self._sse else b"]"

    def close(self) -> bytes:
        if self._closed or self._sse:
            self._closed = True
            return b""
        self._closed = True
        return b"]" if self._opened else b"[]"


def encoder(call: ClientCall, request: Request, report: Report) -> GeminiStreamEncoder:
    return GeminiStreamEncoder(call, request, report)
