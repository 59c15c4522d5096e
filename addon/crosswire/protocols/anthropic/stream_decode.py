"""Anthropic ``/v1/messages`` SSE → IR events.

Streaming: https://docs.anthropic.com/en/docs/build-with-claude/streaming

``message_start`` → ``ResponseStart`` (the input count is known there); ``content_block_*`` →
parts, wire indices mapped to dense IR indices; ``message_delta`` → ``UsageUpdate`` (cumulative,
only the fields present: edge 79) and the stop reason (its ``stop_details``, a refusal's category
and explanation, has no IR place: named in the report); ``message_stop`` → ``StreamFinish``;
``event: error`` → ``StreamError``; an EOF before ``message_stop`` → ``StreamError`` (edge 11).

Tolerated on the wire (tests/fixtures/INDEX.md quirks): JSON padded with spaces before its last
brace; ``ping`` anywhere (swallowed, edge 5); ``"partial_json":""`` for argument-less tools;
an empty ``thinking_delta`` before the signature; ``citations_delta`` and delta or event types
added after this was written (skipped, edge 92). Text, thinking and tool arguments are
forwarded as they arrive (edge 15). Blocks the IR has no part for (``server_tool_use``,
``web_search_tool_result``…) are collected until their ``content_block_stop`` and passed on whole
as one ``Opaque`` part — they are the provider's own, not something a client executes. A
``tool_use`` whose input came whole in ``content_block_start`` (some Anthropic-compatible
servers) gets it as one arguments delta.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from crosswire import ir
from crosswire.protocols.anthropic import errors
from crosswire.protocols.anthropic.mapping import NAME
from crosswire.protocols.anthropic.usage import WireUsage, finish_in, stop_details_text
from crosswire.protocols.common import as_dict, dumps_str
from crosswire.protocols.literal import TEXT_LITERAL, carries
from crosswire.streams import SSEEventDecoder

_TEXT_KEYS = frozenset({"type", "text"})
#: A text delta exactly as Anthropic writes it (its JSON is padded with spaces before the last
#: brace); any other spelling is decoded the slow way.
_TEXT_FRAME = re.compile(
    rb'event: content_block_delta\ndata: \{"type":"content_block_delta","index":(0|[1-9]\d{0,5}),'
    rb'"delta":\{"type":"text_delta","text":(' + TEXT_LITERAL + rb")\} *+\}"
)


@dataclass(slots=True)
class _Block:
    """One wire content block while it is open."""

    index: int | None  # the IR index; None while an opaque block is being collected
    kind: str
    data: dict[str, Any] = field(default_factory=dict)  # an opaque block / a tool's start input
    json: list[str] = field(default_factory=list)
    got_arguments: bool = False


class MessagesStreamDecoder(SSEEventDecoder):
    gives_literal_text = True

    def __init__(self, report: ir.Report) -> None:
        super().__init__()
        self._report = report
        self._blocks: dict[int, _Block] = {}  # wire index → open block
        self._usage = WireUsage()
        self._stop_reason: Any = None
        self._stop_sequence: Any = None
        self._any_tool = False

    # ---- frames ----------------------------------------------------------------------------

    def literal_text(self, frame: bytes) -> tuple[int, bytes] | None:
        found = self._literal_match(_TEXT_FRAME, frame, b'"text_delta"')
        if found is None:
            return None
        block = self._blocks.get(int(found[1]))
        literal = found[2]
        if block is None or block.kind != "text" or block.index is None or literal == b'""':
            return None
        if not carries(literal):
            self.literal_misses += 1
            return None
        return self._stream.next - 1, literal

    def _invalid(self, exc: ValueError, out: list[ir.Event]) -> None:
        self._fail(out, f"invalid JSON in an Anthropic stream event: {exc}")

    def _event(self, event: dict[str, Any], out: list[ir.Event]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            self._delta(event, out)
        elif kind == "content_block_start":
            self._block_start(event, out)
        elif kind == "content_block_stop":
            self._block_stop(event.get("index"), out)
        elif kind == "message_start":
            self._message_start(as_dict(event.get("message")), out)
        elif kind == "message_delta":
            self._message_delta(event, out)
        elif kind == "message_stop":
            self._message_stop(out)
        elif kind == "error":
            self._stream.start(out)
            self._stream.fail(errors.from_object(event, None), out)
        # ping and unknown event types carry nothing for the IR

    def _eof(self, out: list[ir.Event]) -> None:
        self._fail(out, "the Anthropic stream ended before message_stop")

    def _fail(self, out: list[ir.Event], message: str) -> None:
        self._stream.start(out)
        self._stream.fail(ir.Error(kind="api_error", message=message, status=502), out)

    # ---- message ---------------------------------------------------------------------------

    def _message_start(self, message: dict[str, Any], out: list[ir.Event]) -> None:
        if self._stream.started:
            return
        self._usage.update(message.get("usage"))
        self._stream.start(
            out,
            id=str(message.get("id") or ""),
            model=str(message.get("model") or ""),
            usage=self._usage.ir(),
        )

    def _message_delta(self, event: dict[str, Any], out: list[ir.Event]) -> None:
        self._stream.start(out)
        delta = as_dict(event.get("delta"))
        if "stop_reason" in delta:
            self._stop_reason = delta.get("stop_reason")
            self._stop_sequence = delta.get("stop_sequence")
        details = delta.get("stop_details")
        if isinstance(details, dict):
            self._report.dropped("stop_details", stop_details_text(details))
        usage = event.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)
            out.append(ir.UsageUpdate(usage=self._usage.ir()))

    def _message_stop(self, out: list[ir.Event]) -> None:
        self._stream.start(out)
        for wire in list(self._blocks):  # blocks the upstream never closed
            self._block_stop(wire, out)
        finish = finish_in(self._stop_reason, self._stop_sequence, self._any_tool)
        self._stream.finish(finish, out, self._usage.ir())

    # ---- content blocks --------------------------------------------------------------------

    def _block_start(self, event: dict[str, Any], out: list[ir.Event]) -> None:
        self._stream.start(out)
        wire = event.get("index")
        block = as_dict(event.get("content_block"))
        if not isinstance(wire, int):
            return
        btype = block.get("type")
        part: ir.Part
        if btype == "text":
            extra = {k: v for k, v in block.items() if k not in _TEXT_KEYS}
            text = block.get("text")
            part = ir.Text(
                text=text if isinstance(text, str) else "", native={NAME: extra} if extra else {}
            )
        elif btype == "thinking":
            text, signature = block.get("thinking"), block.get("signature")
            part = ir.Reasoning(
                text=text if isinstance(text, str) else "",
                signature=signature if isinstance(signature, str) and signature else None,
                origin=NAME,
            )
        elif btype == "redacted_thinking":
            data = block.get("data")
            part = ir.Reasoning(redacted=data if isinstance(data, str) else "", origin=NAME)
        elif btype == "tool_use":
            part = ir.ToolCall(
                id=str(block.get("id") or ""), name=str(block.get("name") or ""), arguments=""
            )
            self._any_tool = True
            start_input = block.get("input")
            data = {"input": start_input} if start_input not in (None, {}) else {}
            self._blocks[wire] = _Block(index=self._begin(part, out), kind="tool", data=data)
            return
        else:
            self._blocks[wire] = _Block(index=None, kind="opaque", data=dict(block))
            return
        self._blocks[wire] = _Block(index=self._begin(part, out), kind=btype)

    def _begin(self, part: ir.Part, out: list[ir.Event]) -> int:
        """Start ``part``; blocks still open are stopped first (one part open at a time,
        whatever the wire does)."""
        for other in [w for w, b in self._blocks.items() if b.index is not None]:
            self._block_stop(other, out)
        return self._stream.begin(part, out)

    def _delta(self, event: dict[str, Any], out: list[ir.Event]) -> None:
        wire = event.get("index")
        block = self._blocks.get(wire) if isinstance(wire, int) else None
        if block is None:
            return
        delta = as_dict(event.get("delta"))
        dtype = delta.get("type")
        if block.index is None:  # an opaque block: only its input arrives in pieces
            if dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                block.json.append(delta["partial_json"])
            return
        if dtype == "text_delta":
            value, kind = delta.get("text"), "text"
        elif dtype == "thinking_delta":
            value, kind = delta.get("thinking"), "reasoning"
        elif dtype == "signature_delta":
            value, kind = delta.get("signature"), "signature"
        elif dtype == "input_json_delta":
            value, kind = delta.get("partial_json"), "arguments"
            if isinstance(value, str) and value:
                block.got_arguments = True
        else:
            if dtype == "citations_delta":
                self._report.dropped("citations", "streamed citations have no place in the IR")
            return
        if isinstance(value, str) and _fits(block.kind, kind):
            self._stream.delta(kind, value, out)  # type: ignore[arg-type]

    def _block_stop(self, wire: Any, out: list[ir.Event]) -> None:
        block = self._blocks.pop(wire, None) if isinstance(wire, int) else None
        if block is None:
            return
        if block.index is not None:
            if block.kind == "tool" and not block.got_arguments and "input" in block.data:
                self._stream.delta("arguments", dumps_str(block.data["input"]), out)
            self._stream.close(out)
            return
        data = block.data
        raw = "".join(block.json)
        if raw:
            try:
                data["input"] = json.loads(raw)
            except ValueError:
                data["input"] = raw
        self._begin(ir.Opaque(origin=NAME, data=data), out)
        self._stream.close(out)


def _fits(block_kind: str, delta_kind: str) -> bool:
    """A delta of the wrong kind for its block (a text delta on a tool block) is dropped."""
    if block_kind == "text":
        return delta_kind == "text"
    if block_kind == "thinking":
        return delta_kind in ("reasoning", "signature")
    if block_kind == "tool":
        return delta_kind == "arguments"
    return False


def decoder(request: ir.Request, report: ir.Report) -> MessagesStreamDecoder:
    return MessagesStreamDecoder(report)
