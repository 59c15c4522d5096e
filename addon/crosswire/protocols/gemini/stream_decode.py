"""Gemini ``streamGenerateContent`` bytes → IR events.

Three framings reach this decoder (edge case 7): SSE (``alt=sse``, events separated by
``\\r\\n\\r\\n``), one JSON array delivered incrementally (no ``alt=sse``), and a plain JSON
object when an upstream answers a stream request whole. The first non-blank byte decides
(``[``, ``{``, anything else is SSE), so every chunk split gives the same events.

Each chunk is a whole ``GenerateContentResponse`` holding the *new* parts. Text and thought
parts are forwarded as they arrive, consecutive ones merged into one IR part; a part with a
``thoughtSignature`` (or other metadata) starts a new IR part so the signature stays on the
part it came with. A ``functionCall`` always arrives complete: it becomes one ToolCall part,
started, given its whole ``args`` as one ``arguments`` delta and ended (edges 20, 21).
``usageMetadata`` is repeated with running totals: the last values win, never summed (edge
78). Gemini has no terminator (edge 11): the finish is emitted at end of body if a
``finishReason`` (or a prompt ``blockReason``) was seen, otherwise the stream failed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from crosswire.ir import (
    ClientRequestError,
    Error,
    Event,
    Finish,
    Reasoning,
    Report,
    Request,
    Text,
    ToolCall,
    UpstreamProtocolError,
    Usage,
)
from crosswire.ir.builder import StreamBuilder
from crosswire.protocols.gemini import mapping
from crosswire.protocols.gemini.answer import call_id_maker, derived_response_id, parse_time
from crosswire.protocols.gemini.errors import error_from_payload
from crosswire.protocols.gemini.parts import NAME, decode_part, native_of
from crosswire.protocols.gemini.tokens import input_usage, usage_from_metadata
from crosswire.streams import JSONArrayDecoder, SSEDecoder

_WHITESPACE: Final = b" \t\r\n\xef\xbb\xbf"  # and a UTF-8 BOM
_TEXT_KEYS: Final = frozenset({"text", "thought", "thoughtSignature"})


class _ObjectsDecoder:
    """Top-level JSON objects, one after another: the array scanner, primed with ``[``."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = JSONArrayDecoder()
        self._inner.feed(b"[")

    def feed(self, data: bytes) -> list[Any]:
        return self._inner.feed(data)

    def flush(self) -> list[Any]:
        return self._inner.flush()


class GeminiStreamDecoder:
    """One upstream stream; see the module docstring."""

    __slots__ = (
        "_blocked",
        "_finish_raw",
        "_framer",
        "_has_call",
        "_head",
        "_make_id",
        "_model",
        "_report",
        "_signed",
        "_sse",
        "_stream",
        "_usage",
        "_warned",
    )

    def __init__(self, request: Request | None, report: Report) -> None:
        self._model = request.model if request is not None else ""
        self._report = report
        self._framer: SSEDecoder | JSONArrayDecoder | _ObjectsDecoder | None = None
        self._sse = False
        self._head = b""
        #: The open part's tag: "text" / "reasoning" while one of them takes deltas.
        self._stream = StreamBuilder()
        self._signed = False  # the open reasoning part already got its signature
        self._make_id: Any = None
        self._has_call = False
        self._usage = Usage()
        self._finish_raw: str | None = None
        self._blocked: str | None = None
        self._warned = False

    # ---- framing ------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Event]:
        if self._stream.done:
            return []
        if self._framer is None:
            data = self._head + data
            stripped = data.lstrip(_WHITESPACE)
            if not stripped:
                self._head = data
                return []
            self._head = b""
            first = stripped[:1]
            if first == b"[":
                self._framer = JSONArrayDecoder()
            elif first == b"{":
                self._framer = _ObjectsDecoder()
            else:
                self._framer = SSEDecoder()
                self._sse = True
            data = stripped
        return self._objects(self._framer.feed(data))

    def flush(self) -> list[Event]:
        if self._stream.done:
            return []
        out = self._objects(self._framer.flush()) if self._framer is not None else []
        if self._stream.done:
            return out
        if self._finish_raw is not None:
            reason = mapping.finish_reason(self._finish_raw, has_tool_call=self._has_call)
            self._stream.finish(Finish(reason=reason, raw=self._finish_raw), out, self._usage)
        elif self._blocked is not None:
            self._start({}, out)
            finish = Finish(reason="content_filter", raw=self._blocked)
            self._stream.finish(finish, out, self._usage)
        else:
            message = "the Gemini stream ended without a finishReason"
            error = Error(kind="api_error", message=message, status=502)
            self._stream.fail(error, out, close=True)
        return out

    def _objects(self, frames: list[Any]) -> list[Event]:
        out: list[Event] = []
        for frame in frames:
            if self._sse:
                data = frame.data.strip()
                if not data or data == "[DONE]":
                    continue
                try:
                    obj = json.loads(data)
                except ValueError as exc:
                    raise UpstreamProtocolError(f"invalid JSON in Gemini stream: {exc}") from exc
            else:
                obj = frame
            self._chunk(obj, out)
            if self._stream.done:
                break
        return out

    # ---- chunks -------------------------------------------------------------------------

    def _start(self, obj: dict[str, Any], out: list[Event]) -> None:
        if self._stream.started:
            return
        response_id = obj.get("responseId")
        if not isinstance(response_id, str) or not response_id:
            seed = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
            response_id = derived_response_id(seed)
        model = obj.get("modelVersion")
        if isinstance(model, str) and model:
            self._model = model
        self._make_id = call_id_maker(response_id)
        self._stream.start(
            out,
            id=response_id,
            model=self._model,
            usage=input_usage(obj.get("usageMetadata")),
            created=parse_time(obj.get("createTime")),
        )

    def _chunk(self, obj: Any, out: list[Event]) -> None:
        if not isinstance(obj, dict):
            raise UpstreamProtocolError("Gemini stream chunk is not a JSON object")
        error = obj.get("error")
        if isinstance(error, dict):
            self._stream.fail(error_from_payload(error, None), out, close=True)
            return
        self._start(obj, out)
        meta = obj.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = self._usage.merged(usage_from_metadata(meta))
        candidates = obj.get("candidates")
        if isinstance(candidates, list) and candidates:
            for candidate in candidates:
                if not isinstance(candidate, dict):
                    continue
                if candidate.get("index", 0) != 0:
                    if not self._warned:
                        self._warned = True
                        self._report.dropped(
                            "candidates[1:]",
                            "a stream carries one candidate; the others are not returned",
                        )
                    continue
                content = candidate.get("content")
                parts = content.get("parts") if isinstance(content, dict) else None
                for part in parts if isinstance(parts, list) else ():
                    self._part(part, out)
                reason = candidate.get("finishReason")
                if isinstance(reason, str) and reason:
                    self._finish_raw = reason
        else:
            feedback = obj.get("promptFeedback")
            block = feedback.get("blockReason") if isinstance(feedback, dict) else None
            if isinstance(block, str):
                self._blocked = block

    # ---- parts --------------------------------------------------------------------------

    def _part(self, part: Any, out: list[Event]) -> None:
        if not isinstance(part, dict):
            raise UpstreamProtocolError("Gemini stream part is not a JSON object")
        if "text" in part and part.keys() <= _TEXT_KEYS:
            self._text(part, out)
            return
        try:
            decoded = decode_part(part, "part", self._make_id)
        except ClientRequestError as exc:
            raise UpstreamProtocolError(f"Gemini answered a malformed part: {exc}") from exc
        stream = self._stream
        if isinstance(decoded, ToolCall):
            self._has_call = True
            stream.whole(decoded, out)
        elif isinstance(decoded, Text):  # text with metadata: a part of its own
            stream.begin(Text(text="", native=decoded.native), out, "text")
            stream.delta("text", decoded.text, out)
        elif isinstance(decoded, Reasoning):
            stream.begin(Reasoning(origin=NAME, native=decoded.native), out, "reasoning")
            self._signed = False
            self._thought_deltas(decoded.text, decoded.signature, out)
        else:  # File, Opaque: complete in one event
            stream.whole(decoded, out)

    def _text(self, part: dict[str, Any], out: list[Event]) -> None:
        text = part.get("text") or ""
        if not isinstance(text, str):
            raise UpstreamProtocolError("Gemini answered a non-string text part")
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        stream = self._stream
        if part.get("thought") is True:
            if stream.tag != "reasoning" or self._signed:
                stream.begin(Reasoning(origin=NAME), out, "reasoning")
                self._signed = False
            self._thought_deltas(text, signature, out)
            return
        if signature is not None:
            native = native_of({"thoughtSignature": signature})
            stream.begin(Text(text="", native=native), out, "text")
        elif stream.tag != "text":
            if not text:
                return  # the empty text of a final chunk
            stream.begin(Text(text=""), out, "text")
        stream.delta("text", text, out)

    def _thought_deltas(self, text: str, signature: str | None, out: list[Event]) -> None:
        self._stream.delta("reasoning", text, out)
        if signature:
            self._stream.delta("signature", signature, out)
            self._signed = True


def decoder(request: Request, report: Report) -> GeminiStreamDecoder:
    return GeminiStreamDecoder(request, report)
