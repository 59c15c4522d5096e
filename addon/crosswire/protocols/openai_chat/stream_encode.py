"""IR events → ``data: {chat.completion.chunk}`` lines for the app.

Chunk object: https://platform.openai.com/docs/api-reference/chat-streaming/streaming

Lifecycle (edges 10, 20–24 of docs/edge-cases.md): the first chunk carries ``role:"assistant"``; text goes in
``content``, reasoning in ``reasoning_content``, refusals in ``refusal``; every tool call gets
the next ``index`` of a running counter, with ``id``/``type``/``name`` only in its first
fragment and ``arguments`` fragments as they come (a call with no arguments still gets
``"{}"``); the last choice chunk has ``finish_reason`` (``tool_calls`` when any call went
out); with ``stream_options.include_usage`` a final ``choices: []`` chunk carries the usage and
every earlier chunk ``"usage": null``, otherwise no usage chunk at all; then ``data: [DONE]``.
A ``StreamError`` is written as ``data: {"error":…}`` and the stream ends without ``[DONE]``.

Per event only the variable text is serialised: the chunk's head and tail are built once.
"""

from __future__ import annotations

import time
from typing import Any

from crosswire import ir
from crosswire.protocols import openai_errors
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.openai_chat import reasoning
from crosswire.protocols.openai_chat.mapping import NAME
from crosswire.protocols.openai_chat.response import completion_id, image_out, safe_dumps
from crosswire.protocols.openai_chat.usage import finish_out, usage_out

DONE = b"data: [DONE]\n\n"


def _str(text: str) -> bytes:
    """A JSON string literal (lone surrogates become U+FFFD, see ``safe_dumps``)."""
    try:
        return dumps(text)
    except UnicodeEncodeError:
        return safe_dumps(text)


class ChatStreamEncoder(EventEncoder):
    #: The app's flavour of the wire (``ClientCall.dialect``); subclasses set their own.
    dialect = "openai"
    takes_literal_text = True

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        super().__init__()
        self._report = report
        self._include_usage = bool(request.include_usage)
        self._model = request.model
        self._id = "chatcmpl-crosswire"
        self._created = 0
        self._head = b""  # data: {"id":…,"choices":[{"index":0,"delta":
        self._tail = b""  # ,"logprobs":null,"finish_reason":null}]…}\n\n
        self._finish_tail = b""  # }]…}\n\n after a finish_reason
        self._started = False
        self._tool_count = 0
        self._tool_index: dict[int, int] = {}  # IR part index → wire tool index
        self._args_sent: dict[int, bool] = {}
        self._kinds: dict[int, str] = {}  # IR part index → content / refusal / reasoning
        self._reasoning: dict[int, ir.Reasoning] = {}
        self._reasoning_text: dict[int, list[str]] = {}

    # ---- chunks ------------------------------------------------------------------------------

    def _start(self, rid: str, model: str, created: int | None) -> bytes:
        self._started = True
        self._id = completion_id(rid)
        self._created = created or int(time.time())
        self._model = model or self._model
        head = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }
        self._head = b"data: " + safe_dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'
        self._build_tails()
        return self._head + b'{"role":"assistant","content":""}' + self._tail

    def _build_tails(self) -> None:
        usage = b',"usage":null' if self._include_usage else b""
        self._tail = b',"logprobs":null,"finish_reason":null}]' + usage + b"}\n\n"
        self._finish_tail = b"}]" + usage + b"}\n\n"

    def _emit(self, delta: bytes) -> bytes:
        """One chunk around a rendered ``delta`` object."""
        return self._head + delta + self._tail

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._start("", "", None)

    def _field(self, name: bytes, text: str) -> bytes:
        return self._literal_field(name, _str(text))

    def _literal_field(self, name: bytes, literal: bytes) -> bytes:
        return self._emit(b'{"' + name + b'":' + literal + b"}")

    def _arguments(self, wire: int, text: str) -> bytes:
        return self._emit(
            b'{"tool_calls":[{"index":%d,"function":{"arguments":' % wire + _str(text) + b"}}]}"
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._emit(safe_dumps(delta))

    def _reasoning_delta(self, text: str) -> bytes:
        return self._field(b"reasoning_content", text)

    def _flush(self) -> bytes:
        """Whatever a subclass still holds back (nothing here: every chunk goes out at once)."""
        return b""

    # ---- events ------------------------------------------------------------------------------

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        if self._started:
            return b""
        self._usage = self._usage.merged(event.usage)
        return self._start(event.id, event.model, event.created)

    def _fail(self, error: ir.Error) -> bytes:
        body = openai_errors.stream_body(error, self.dialect)
        return self._flush() + b"data: " + safe_dumps(body) + b"\n\n"

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        match part:
            case ir.Text():
                refusal = bool((part.native.get(NAME) or {}).get("refusal"))
                kind = "refusal" if refusal else "content"
                self._kinds[index] = kind
                return self._field(kind.encode(), part.text) if part.text else b""
            case ir.Reasoning():
                self._kinds[index] = "reasoning"
                self._reasoning[index] = part
                self._reasoning_text[index] = [part.text] if part.text else []
                return self._reasoning_delta(part.text) if part.text else b""
            case ir.ToolCall():
                wire = self._tool_count
                self._tool_count += 1
                self._tool_index[index] = wire
                self._args_sent[index] = bool(part.arguments)
                call: dict[str, Any] = {
                    "index": wire,
                    "id": part.id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": part.arguments},
                }
                return self._delta({"tool_calls": [call]})
            case ir.File() if part.kind == "image" and (part.url or part.data):
                self._report.moved("image", "streamed in delta.images (OpenRouter's field)")
                return self._delta({"images": [image_out(part)]})
            case _:
                label = part.data.get("type", "block") if isinstance(part, ir.Opaque) else part.type
                self._report.dropped(str(label), "a Chat Completions stream has no place for it")
                return b""

    def text_literal(self, index: int, literal: bytes) -> bytes | None:
        if self._done or not self._started:
            return None
        return self._text(index, literal)

    def _text(self, index: int, literal: bytes) -> bytes:
        """A text part's delta: ``content``, or ``refusal`` for a refusal part."""
        return self._literal_field(self._kinds.get(index, "content").encode(), literal)

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        if event.kind == "text":
            return self._text(event.index, _str(event.text))
        if event.kind == "reasoning":
            self._reasoning_text.setdefault(event.index, []).append(event.text)
            return self._reasoning_delta(event.text)
        if event.kind == "arguments":
            wire = self._tool_index.get(event.index)
            if wire is None or not event.text:
                return b""
            self._args_sent[event.index] = True
            return self._arguments(wire, event.text)
        if event.kind == "signature":
            part = self._reasoning.get(event.index)
            if part is not None:
                self._reasoning[event.index] = ir.Reasoning(
                    text=part.text,
                    signature=(part.signature or "") + event.text,
                    redacted=part.redacted,
                    origin=part.origin,
                )
        return b""

    def _part_end(self, index: int) -> bytes:
        if index in self._tool_index and not self._args_sent.get(index):
            self._args_sent[index] = True
            return self._arguments(self._tool_index[index], "{}")  # edge 22
        part = self._reasoning.pop(index, None)
        if part is None or not reasoning.needs_carrier(part):
            return b""
        text = "".join(self._reasoning_text.pop(index, []))
        return self._delta({"thinking_blocks": [reasoning.carrier_block(part, text)]})

    def _finish(self, event: ir.StreamFinish) -> bytes:
        out = self._ensure_started()
        reason = finish_out(event.finish, self._tool_count > 0)
        out += (
            self._head
            + b'{},"logprobs":null,"finish_reason":"'
            + reason.encode()
            + b'"'
            + self._finish_tail
        )
        if self._include_usage:
            usage = self._usage.merged(event.usage)
            final = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": usage_out(usage),
            }
            out += b"data: " + safe_dumps(final) + b"\n\n"
        return out + DONE


def encoder(call: ClientCall, request: ir.Request, report: ir.Report) -> ChatStreamEncoder:
    """An encoder in OpenAI's shape (an app on Mistral's SDK: ``mistral_out``)."""
    return ChatStreamEncoder(request, report)
