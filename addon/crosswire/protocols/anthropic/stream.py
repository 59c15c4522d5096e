"""Anthropic Messages event streams ⇄ IR events.

Decoder: ``message_start`` → start; ``content_block_*`` → parts (wire indices mapped to dense
IR indices); ``ping`` swallowed (edge 5); ``message_delta`` usage is cumulative and updates
only the fields present (edge 79); ``message_stop`` → finish; ``error`` → StreamError; EOF
without ``message_stop`` → StreamError. Blocks nobody else understands (server tool use, web
search results) are collected whole and passed on as one opaque part.

Encoder: ``message_start`` first, exactly once, with a non-zero input count when known (edges
12, 17); blocks with dense indices, closed before the next opens (13); tool input only through
``input_json_delta``, forwarded as it arrives (14, 15); ``tool_use`` stop reason whenever a tool
was called (18); signature deltas before the block stops (19).
"""

from __future__ import annotations

import json
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.anthropic import errors
from crosswire.protocols.anthropic.response import finish_in, finish_out, usage_in, usage_out
from crosswire.protocols.common import as_dict
from crosswire.streams import SSEEventDecoder

NAME = "anthropic"


class MessagesStreamDecoder(SSEEventDecoder):
    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._map: dict[int, int] = {}  # wire index -> IR index
        self._opaque: dict[int, dict[str, Any]] = {}  # wire index -> block being collected
        self._opaque_json: dict[int, list[str]] = {}
        self._next = 0
        self._usage = ir.Usage()
        self._stop: Any = None
        self._stop_sequence: Any = None
        self._any_tool = False
        self._id = ""

    def _eof(self, out: list[ir.Event]) -> None:
        self._done = True
        out.append(
            ir.StreamError(
                error=ir.Error.of("api_error", "upstream stream ended before message_stop")
            )
        )

    def _frame(self, data: str, out: list[ir.Event]) -> None:
        if not data:
            return
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"invalid JSON in Anthropic event: {exc}") from exc
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "message_start":
            msg = as_dict(event.get("message"))
            self._id = str(msg.get("id") or "")
            self._usage = usage_in(msg.get("usage"))
            self._started = True
            out.append(
                ir.ResponseStart(id=self._id, model=str(msg.get("model") or ""), usage=self._usage)
            )
        elif kind == "content_block_start":
            self._ensure_start(out)
            wire = event.get("index")
            block = as_dict(event.get("content_block"))
            if not isinstance(wire, int):
                return
            btype = block.get("type")
            if btype == "text":
                part: ir.Part = ir.Text(text=str(block.get("text") or ""))
            elif btype == "thinking":
                part = ir.Reasoning(
                    text=str(block.get("thinking") or ""),
                    signature=block.get("signature") or None,
                    origin=NAME,
                )
            elif btype == "redacted_thinking":
                part = ir.Reasoning(redacted=str(block.get("data") or ""), origin=NAME)
            elif btype == "tool_use":
                part = ir.ToolCall(
                    id=str(block.get("id") or ""), name=str(block.get("name") or ""), arguments=""
                )
                self._any_tool = True
            else:
                self._opaque[wire] = dict(block)
                self._opaque_json[wire] = []
                return
            self._map[wire] = self._next
            out.append(ir.PartStart(index=self._next, part=part))
            self._next += 1
        elif kind == "content_block_delta":
            wire = event.get("index")
            delta = as_dict(event.get("delta"))
            dtype = delta.get("type")
            if wire in self._opaque:
                if dtype == "input_json_delta":
                    self._opaque_json[wire].append(str(delta.get("partial_json") or ""))
                return
            index = self._map.get(wire) if isinstance(wire, int) else None
            if index is None:
                return
            if dtype == "text_delta":
                out.append(
                    ir.PartDelta(index=index, kind="text", text=str(delta.get("text") or ""))
                )
            elif dtype == "thinking_delta":
                text = str(delta.get("thinking") or "")
                if text:
                    out.append(ir.PartDelta(index=index, kind="reasoning", text=text))
            elif dtype == "signature_delta":
                out.append(
                    ir.PartDelta(
                        index=index, kind="signature", text=str(delta.get("signature") or "")
                    )
                )
            elif dtype == "input_json_delta":
                text = str(delta.get("partial_json") or "")
                if text:
                    out.append(ir.PartDelta(index=index, kind="arguments", text=text))
            # citations_delta and future delta types are tolerated (edge 92)
        elif kind == "content_block_stop":
            wire = event.get("index")
            if wire in self._opaque:
                block = self._opaque.pop(wire)
                raw = "".join(self._opaque_json.pop(wire, []))
                if raw:
                    try:
                        block["input"] = json.loads(raw)
                    except ValueError:
                        block["input"] = raw
                out.append(ir.PartStart(index=self._next, part=ir.Opaque(origin=NAME, data=block)))
                out.append(ir.PartEnd(index=self._next))
                self._next += 1
                return
            index = self._map.get(wire) if isinstance(wire, int) else None
            if index is not None:
                out.append(ir.PartEnd(index=index))
        elif kind == "message_delta":
            delta = as_dict(event.get("delta"))
            if "stop_reason" in delta:
                self._stop = delta.get("stop_reason")
                self._stop_sequence = delta.get("stop_sequence")
            if isinstance(event.get("usage"), dict):
                self._usage = self._usage.merged(usage_in(event["usage"]))
                out.append(ir.UsageUpdate(usage=self._usage))
        elif kind == "message_stop":
            self._ensure_start(out)
            out.append(
                ir.StreamFinish(
                    finish=finish_in(self._stop, self._stop_sequence, self._any_tool),
                    usage=self._usage,
                )
            )
            self._done = True
        elif kind == "error":
            out.append(ir.StreamError(error=errors.from_object(event, 500)))
            self._done = True

    def _ensure_start(self, out: list[ir.Event]) -> None:
        if not self._started:
            self._started = True
            out.append(ir.ResponseStart(id="", model=""))


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return (
        b"event: "
        + name.encode()
        + b"\ndata: "
        + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


_STOP_BLOCK = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"%s","%s":'


class MessagesStreamEncoder:
    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        self._model = request.model
        self._started = False
        self._done = False
        self._map: dict[int, int] = {}  # IR index -> wire index
        self._kinds: dict[int, str] = {}
        self._next = 0
        self._usage = ir.Usage()
        self._any_tool = False

    def _start(self, rid: str, model: str, usage: ir.Usage) -> bytes:
        self._started = True
        self._usage = usage
        body = usage_out(usage)
        body["output_tokens"] = max(1, body["output_tokens"])
        msg: dict[str, Any] = {
            "id": rid if rid.startswith("msg_") else f"msg_{rid or 'crosswire'}",
            "type": "message",
            "role": "assistant",
            "model": model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": body,
        }
        return _event("message_start", {"type": "message_start", "message": msg})

    def _delta(self, wire: int, dtype: str, field: str, text: str) -> bytes:
        return (
            _DELTA % (wire, dtype.encode(), field.encode())
            + json.dumps(text, ensure_ascii=False).encode()
            + b"}}\n\n"
        )

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.ResponseStart():
                return self._start(event.id, event.model, event.usage)
            case ir.PartStart():
                out = b"" if self._started else self._start("", "", ir.Usage())
                part = event.part
                wire = self._next
                if isinstance(part, ir.Text):
                    block: dict[str, Any] = {"type": "text", "text": ""}
                    kind = "text"
                elif isinstance(part, ir.Reasoning):
                    if part.redacted is not None:
                        if part.origin != NAME:
                            return out
                        block, kind = (
                            {"type": "redacted_thinking", "data": part.redacted},
                            "redacted",
                        )
                    else:
                        block, kind = (
                            {"type": "thinking", "thinking": "", "signature": ""},
                            "thinking",
                        )
                elif isinstance(part, ir.ToolCall):
                    block, kind = (
                        {"type": "tool_use", "id": part.id, "name": part.name, "input": {}},
                        "tool",
                    )
                    self._any_tool = True
                elif isinstance(part, ir.Opaque) and part.origin == NAME:
                    data = dict(part.data)
                    pending = (
                        data.pop("input", None) if data.get("type") == "server_tool_use" else None
                    )
                    if pending is not None:
                        data["input"] = {}
                    self._next += 1
                    self._map[event.index] = wire
                    self._kinds[event.index] = "opaque"
                    out += _event(
                        "content_block_start",
                        {"type": "content_block_start", "index": wire, "content_block": data},
                    )
                    if pending is not None:
                        out += self._delta(
                            wire, "input_json_delta", "partial_json", json.dumps(pending)
                        )
                    return out
                else:
                    return out
                self._next += 1
                self._map[event.index] = wire
                self._kinds[event.index] = kind
                out += _event(
                    "content_block_start",
                    {"type": "content_block_start", "index": wire, "content_block": block},
                )
                if isinstance(part, ir.Text) and part.text:
                    out += self._delta(wire, "text_delta", "text", part.text)
                elif isinstance(part, ir.Reasoning) and part.redacted is None:
                    if part.text:
                        out += self._delta(wire, "thinking_delta", "thinking", part.text)
                    if part.signature and part.origin == NAME:
                        out += self._delta(wire, "signature_delta", "signature", part.signature)
                elif isinstance(part, ir.ToolCall) and part.arguments:
                    out += self._delta(wire, "input_json_delta", "partial_json", part.arguments)
                return out
            case ir.PartDelta():
                wire_index = self._map.get(event.index)
                if wire_index is None:
                    return b""
                if event.kind == "text":
                    return self._delta(wire_index, "text_delta", "text", event.text)
                if event.kind == "reasoning":
                    return self._delta(wire_index, "thinking_delta", "thinking", event.text)
                if event.kind == "signature":
                    return self._delta(wire_index, "signature_delta", "signature", event.text)
                if event.kind == "arguments":
                    return self._delta(wire_index, "input_json_delta", "partial_json", event.text)
                return b""
            case ir.PartEnd():
                wire_index = self._map.get(event.index)
                return b"" if wire_index is None else _STOP_BLOCK % wire_index
            case ir.UsageUpdate():
                self._usage = self._usage.merged(event.usage)
                return b""
            case ir.StreamFinish():
                self._done = True
                out = b"" if self._started else self._start("", "", ir.Usage())
                usage = self._usage.merged(event.usage)
                stop_reason, stop_sequence = finish_out(event.finish, self._any_tool)
                delta_usage = usage_out(usage)
                out += _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                        "usage": delta_usage,
                    },
                )
                return out + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
            case ir.StreamError():
                self._done = True
                return _event("error", errors.body(event.error))
        return b""

    def close(self) -> bytes:
        return b""
