"""IR events → the Anthropic SSE an app (Claude Code, the anthropic SDK) expects.

Streaming: https://docs.anthropic.com/en/docs/build-with-claude/streaming

Lifecycle (edges 10, 12–19 of docs/edge-cases.md; bare numbers below are edges too):

* ``message_start`` first and exactly once, with the input count known at the start (the
  pipeline puts an estimate there when the upstream has none; this encoder estimates itself if it
  still gets none), so Claude Code's context meter never reads 0 (17).
* each part is a ``content_block_start`` / ``_delta``… / ``content_block_stop`` with indices
  0, 1, 2… and a block is closed before the next opens, even if the events do not say so (13).
* text → ``text_delta``; reasoning → ``thinking_delta``; the signature is collected and sent as
  one ``signature_delta`` just before the block stops (the SDK *replaces* the signature with each
  delta); ``redacted_thinking`` arrives whole in ``content_block_start`` (19). Another
  provider's reasoning is shown as thinking, its opaque state in an envelope signature.
* ``tool_use`` starts with ``input: {}`` and its arguments go only through ``input_json_delta``,
  forwarded as they arrive — also when the upstream gave them whole (14, 15). Empty or
  mismatched deltas inside a block are ignored (16).
* ``message_delta`` carries the stop reason (``tool_use`` whenever a tool call went out: 18) and
  the cumulative usage; then ``message_stop``. A finish with reason ``error`` (Gemini's malformed
  call) and a ``StreamError`` become ``event: error`` (``overloaded_error`` for 529s) (10, 73).

Per delta only the text is serialised: each block's delta prefix is built once at its start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crosswire import ir
from crosswire.ir.estimate import estimate_input_tokens
from crosswire.protocols.anthropic import errors
from crosswire.protocols.anthropic.mapping import INPUT_BY_DELTA, NAME
from crosswire.protocols.anthropic.response import foreign_signature, message_id
from crosswire.protocols.anthropic.usage import finish_out, usage_out
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps, dumps_str
from crosswire.protocols.event_encoder import EventEncoder

_BLOCK_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,"content_block":'
)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":'
_TEXT = b'{"type":"text_delta","text":'
_THINKING = b'{"type":"thinking_delta","thinking":'
_SIGNATURE = b'{"type":"signature_delta","signature":'
_ARGUMENTS = b'{"type":"input_json_delta","partial_json":'
_TAIL = b"}}\n\n"
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def _str(text: str) -> bytes:
    """A JSON string literal (lone surrogates from upstream JSON fall back to escapes)."""
    try:
        return dumps(text)
    except UnicodeEncodeError:
        return json.dumps(text).encode()


def _obj(value: Any) -> bytes:
    return dumps_str(value).encode("utf-8", "replace")


def _event(name: bytes, payload: Any) -> bytes:
    return b"event: " + name + b"\ndata: " + _obj(payload) + b"\n\n"


@dataclass(slots=True)
class _Open:
    """A block sent to the app: its wire index, what it holds and its delta prefix."""

    wire: int
    kind: str  # text / thinking / redacted / tool / opaque
    prefix: bytes = b""  # event … "delta":{"type":"…","…":
    reasoning: ir.Reasoning | None = None
    signature: list[str] = field(default_factory=list)
    closed: bool = False


class MessagesStreamEncoder(EventEncoder):
    takes_literal_text = True

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        super().__init__()
        self._request = request
        self._report = report
        self._started = False
        self._next = 0  # next wire index
        self._parts: dict[int, _Open | None] = {}  # IR index → block (None: not shown)
        self._current: _Open | None = None
        self._any_tool = False

    # ---- message ---------------------------------------------------------------------------

    def _start(self, rid: str, model: str, usage: ir.Usage) -> bytes:
        self._started = True
        if usage.input_tokens is None:
            usage = ir.Usage(
                input_tokens=estimate_input_tokens(self._request), estimated=True
            ).merged(usage)
        self._usage = self._usage.merged(usage)
        message: dict[str, Any] = {
            "id": message_id(rid),
            "type": "message",
            "role": "assistant",
            "model": model or self._request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_out(self._usage, output_default=1),
        }
        return _event(b"message_start", {"type": "message_start", "message": message})

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._start("", "", ir.Usage())

    def _finish(self, event: ir.StreamFinish) -> bytes:
        out = self._ensure_started() + self._close_current()
        self._usage = self._usage.merged(event.usage)
        if event.finish.reason == "error":
            message = "the upstream model's answer ended with an error"
            if event.finish.raw:
                message += f" ({event.finish.raw})"
            return out + self._fail(ir.Error.of("api_error", message))
        stop_reason, stop_sequence = finish_out(event.finish, self._any_tool)
        usage = usage_out(self._usage)
        if self._usage.input_tokens is None:
            del usage["input_tokens"]  # the message_start value stands (edge 79)
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage,
        }
        return out + _event(b"message_delta", delta) + _MESSAGE_STOP

    def _fail(self, error: ir.Error) -> bytes:
        self._done = True
        return _event(b"error", errors.body(error))

    # ---- blocks ----------------------------------------------------------------------------

    def _open(self, index: int, kind: str, prefix: bytes) -> _Open:
        wire = self._next
        self._next += 1
        opened = _Open(wire=wire, kind=kind, prefix=(_DELTA % wire) + prefix if prefix else b"")
        self._parts[index] = opened
        self._current = opened
        return opened

    def _start_block(self, opened: _Open, block: Any) -> bytes:
        return (_BLOCK_START % opened.wire) + _obj(block) + b"}\n\n"

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        return self._close_current() + self._block_start(index, part)

    def _block_start(self, index: int, part: ir.Part) -> bytes:
        match part:
            case ir.Text():
                extra = part.native.get(NAME) or {}
                opened = self._open(index, "text", _TEXT)
                out = self._start_block(opened, {"type": "text", "text": "", **extra})
                return out + self._delta(opened, part.text)
            case ir.Reasoning() if part.origin == NAME and part.redacted is not None:
                opened = self._open(index, "redacted", b"")
                return self._start_block(
                    opened, {"type": "redacted_thinking", "data": part.redacted}
                )
            case ir.Reasoning():
                opened = self._open(index, "thinking", _THINKING)
                opened.reasoning = part
                if part.signature:
                    opened.signature.append(part.signature)
                empty = {"type": "thinking", "thinking": "", "signature": ""}
                return self._start_block(opened, empty) + self._delta(opened, part.text)
            case ir.ToolCall():
                self._any_tool = True
                opened = self._open(index, "tool", _ARGUMENTS)
                call = {"type": "tool_use", "id": part.id, "name": part.name, "input": {}}
                return self._start_block(opened, call) + self._delta(opened, part.arguments)
            case ir.Opaque() if part.origin == NAME:
                data = dict(part.data)
                pending = None
                if str(data.get("type")) in INPUT_BY_DELTA and data.get("input") not in (None, {}):
                    pending, data["input"] = data["input"], {}
                opened = self._open(index, "opaque", _ARGUMENTS)
                out = self._start_block(opened, data)
                if pending is not None:
                    out += opened.prefix + _str(json.dumps(pending, ensure_ascii=False)) + _TAIL
                return out
        self._parts[index] = None
        origin = getattr(part, "origin", None)
        self._report.dropped(
            f"{origin + ' ' if origin else ''}{part.type}",
            "an answer part an Anthropic app cannot receive",
        )
        return b""

    def _delta(self, opened: _Open, text: str) -> bytes:
        if not text or opened.closed:
            return b""
        return self._literal_delta(opened, _str(text))

    @staticmethod
    def _literal_delta(opened: _Open, literal: bytes) -> bytes:
        return opened.prefix + literal + _TAIL

    def text_literal(self, index: int, literal: bytes) -> bytes | None:
        opened = self._parts.get(index)
        if self._done or opened is None or opened.kind != "text" or opened.closed:
            return None
        return self._literal_delta(opened, literal)

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        opened = self._parts.get(event.index)
        if opened is None:
            return b""
        kind = opened.kind
        if event.kind == "signature":
            if kind == "thinking" and not opened.closed:
                opened.signature.append(event.text)
            return b""
        if (
            (event.kind == "text" and kind == "text")
            or (event.kind == "reasoning" and kind == "thinking")
            or (event.kind == "arguments" and kind == "tool")
        ):
            return self._delta(opened, event.text)
        return b""  # noise of the wrong kind for this block (edge 16)

    def _close(self, opened: _Open) -> bytes:
        if opened.closed:
            return b""
        opened.closed = True
        if self._current is opened:
            self._current = None
        out = b""
        if opened.kind == "thinking" and opened.reasoning is not None:
            signature = "".join(opened.signature)
            part = opened.reasoning
            if part.origin != NAME:
                signature = foreign_signature(
                    ir.Reasoning(
                        origin=part.origin, signature=signature or None, redacted=part.redacted
                    )
                )
            if signature:
                out = (_DELTA % opened.wire) + _SIGNATURE + _str(signature) + _TAIL
        return out + (_BLOCK_STOP % opened.wire)

    def _close_current(self) -> bytes:
        return b"" if self._current is None else self._close(self._current)

    # ---- events ----------------------------------------------------------------------------

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        if self._started:
            return b""
        return self._start(event.id, event.model, event.usage)

    def _part_end(self, index: int) -> bytes:
        opened = self._parts.get(index)
        return b"" if opened is None else self._close(opened)

    def close(self) -> bytes:
        """A stream that ended without a finish must not look complete to the app."""
        if self._done or not self._started:
            return b""
        return self._fail(ir.Error.of("api_error", "the upstream stream ended unexpectedly"))


def encoder(call: ClientCall, request: ir.Request, report: ir.Report) -> MessagesStreamEncoder:
    return MessagesStreamEncoder(request, report)
