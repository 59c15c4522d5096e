"""Responses event streams ⇄ IR events.

Decoder: ``output_item.added`` opens function calls and reasoning items, ``content_part.added``
opens text; deltas flow through; ``function_call_arguments.done`` supplies arguments that came
only at the end (edge 26); a reasoning item's ``encrypted_content`` (in ``output_item.done``)
becomes its signature; ``response.completed``/``incomplete`` finish, ``response.failed`` and
``error`` fail; EOF without them is an error.

Encoder: the full lifecycle with a monotonic ``sequence_number`` (edge 25): created →
in_progress → per item added / content_part / deltas / done → completed (or incomplete), the
last carrying the whole output and usage; an error ends with ``response.failed``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols import openai_errors
from crosswire.protocols.common import as_dict
from crosswire.protocols.openai_responses.response import (
    finish_in,
    item_to_parts,
    part_to_item,
    response_id,
    response_object,
    usage_in,
)
from crosswire.streams import SSEEventDecoder

NAME = "openai-responses"


class ResponsesStreamDecoder(SSEEventDecoder):
    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._next = 0
        self._items: dict[str, dict[str, Any]] = {}  # item id -> {index, kind, got_args}
        self._any_tool = False

    def _eof(self, out: list[ir.Event]) -> None:
        self._done = True
        out.append(
            ir.StreamError(
                error=ir.Error.of("api_error", "upstream stream ended before response.completed")
            )
        )

    def _start(self, resp: Any, out: list[ir.Event]) -> None:
        if not self._started:
            self._started = True
            resp = resp if isinstance(resp, dict) else {}
            created = resp.get("created_at")
            out.append(
                ir.ResponseStart(
                    id=str(resp.get("id") or ""),
                    model=str(resp.get("model") or ""),
                    created=created if isinstance(created, int) else None,
                )
            )

    def _open(self, key: str, kind: str, part: ir.Part, out: list[ir.Event]) -> None:
        self._items[key] = {"index": self._next, "kind": kind, "args": False, "open": True}
        out.append(ir.PartStart(index=self._next, part=part))
        self._next += 1

    def _close(self, key: str, out: list[ir.Event]) -> None:
        entry = self._items.get(key)
        if entry and entry["open"]:
            entry["open"] = False
            out.append(ir.PartEnd(index=entry["index"]))

    def _frame(self, data: str, out: list[ir.Event]) -> None:
        if not data or data == "[DONE]":
            return
        try:
            ev = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"invalid JSON in Responses event: {exc}") from exc
        if not isinstance(ev, dict):
            return
        kind = ev.get("type")
        if kind in ("response.created", "response.in_progress"):
            self._start(ev.get("response"), out)
            return
        self._start(None, out)
        item = as_dict(ev.get("item"))
        item_id = str(ev.get("item_id") or item.get("id") or "")
        if kind == "response.output_item.added":
            t = item.get("type")
            if t == "function_call":
                self._any_tool = True
                self._open(
                    item_id,
                    "tool",
                    ir.ToolCall(
                        id=str(item.get("call_id") or item_id),
                        name=str(item.get("name") or ""),
                        arguments="",
                        native={NAME: {"id": item_id}},
                    ),
                    out,
                )
            elif t == "reasoning":
                self._open(item_id, "reasoning", ir.Reasoning(origin=NAME), out)
        elif kind == "response.content_part.added":
            wire_part = as_dict(ev.get("part"))
            if wire_part.get("type") in ("output_text", "refusal"):
                self._open(f"{item_id}:{ev.get('content_index', 0)}", "text", ir.Text(text=""), out)
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            entry = self._items.get(f"{item_id}:{ev.get('content_index', 0)}")
            if entry and entry["open"] and ev.get("delta"):
                out.append(ir.PartDelta(index=entry["index"], kind="text", text=str(ev["delta"])))
        elif kind == "response.content_part.done":
            self._close(f"{item_id}:{ev.get('content_index', 0)}", out)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            entry = self._items.get(item_id)
            if entry and entry["open"] and ev.get("delta"):
                out.append(
                    ir.PartDelta(index=entry["index"], kind="reasoning", text=str(ev["delta"]))
                )
        elif kind == "response.reasoning_summary_part.added":
            entry = self._items.get(item_id)
            if entry and entry.get("summaries", 0) > 0 and entry["open"]:
                out.append(ir.PartDelta(index=entry["index"], kind="reasoning", text="\n\n"))
            if entry:
                entry["summaries"] = entry.get("summaries", 0) + 1
        elif kind == "response.function_call_arguments.delta":
            entry = self._items.get(item_id)
            if entry and entry["open"] and ev.get("delta"):
                entry["args"] = True
                out.append(
                    ir.PartDelta(index=entry["index"], kind="arguments", text=str(ev["delta"]))
                )
        elif kind == "response.function_call_arguments.done":
            entry = self._items.get(item_id)
            if entry and entry["open"] and not entry["args"] and ev.get("arguments"):
                entry["args"] = True
                out.append(
                    ir.PartDelta(index=entry["index"], kind="arguments", text=str(ev["arguments"]))
                )
        elif kind == "response.output_item.done":
            entry = self._items.get(item_id)
            t = item.get("type")
            if entry is None and t not in ("message",):
                for part in item_to_parts(item):  # items without deltas (web search calls…)
                    out.append(ir.PartStart(index=self._next, part=part))
                    out.append(ir.PartEnd(index=self._next))
                    self._next += 1
                return
            if entry is not None:
                if (
                    t == "reasoning"
                    and isinstance(item.get("encrypted_content"), str)
                    and entry["open"]
                ):
                    out.append(
                        ir.PartDelta(
                            index=entry["index"], kind="signature", text=item["encrypted_content"]
                        )
                    )
                if (
                    t == "function_call"
                    and not entry["args"]
                    and item.get("arguments")
                    and entry["open"]
                ):
                    out.append(
                        ir.PartDelta(
                            index=entry["index"], kind="arguments", text=str(item["arguments"])
                        )
                    )
                self._close(item_id, out)
        elif kind in ("response.completed", "response.incomplete"):
            resp = as_dict(ev.get("response"))
            for key in list(self._items):
                self._close(key, out)
            out.append(
                ir.StreamFinish(
                    finish=finish_in(
                        resp.get("status"), resp.get("incomplete_details"), self._any_tool
                    ),
                    usage=usage_in(resp.get("usage")),
                )
            )
            self._done = True
        elif kind in ("response.failed", "error"):
            resp = as_dict(ev.get("response"))
            err = resp.get("error") if isinstance(resp.get("error"), dict) else ev
            payload = {
                "error": {
                    "message": err.get("message") or "the response failed",
                    "code": err.get("code"),
                    "type": err.get("type"),
                }
            }
            out.append(
                ir.StreamError(error=openai_errors.decode(500, {}, json.dumps(payload).encode()))
            )
            self._done = True


class ResponsesStreamEncoder:
    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        self._model = request.model
        self._seq = 0
        self._done = False
        self._started = False
        self._id = "resp_crosswire"
        self._created = int(time.time())
        self._items: list[dict[str, Any]] = []
        self._open: dict[int, dict[str, Any]] = {}  # IR index -> state
        self._usage = ir.Usage()

    def _ev(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return (
            b"event: "
            + kind.encode()
            + b"\ndata: "
            + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            + b"\n\n"
        )

    def _start(self, rid: str, model: str, created: int | None) -> bytes:
        self._started = True
        self._id = response_id(rid)
        self._model = model or self._model
        self._created = created or self._created
        obj = response_object(self._id, self._model, self._created, [], None, None)
        return self._ev("response.created", response=obj) + self._ev(
            "response.in_progress", response=obj
        )

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.ResponseStart():
                return self._start(event.id, event.model, event.created)
            case ir.PartStart():
                out = b"" if self._started else self._start("", "", None)
                n = len(self._items)
                part = event.part
                item = part_to_item(part if not isinstance(part, ir.Text) else ir.Text(text=""), n)
                if item is None:
                    return out
                if isinstance(part, ir.Reasoning):
                    item["summary"] = []
                    item.pop("encrypted_content", None)
                if isinstance(part, ir.ToolCall):
                    item["arguments"] = ""
                item["status"] = "in_progress"
                self._items.append(item)
                state = {"n": n, "item": item, "text": [], "part": part}
                self._open[event.index] = state
                out += self._ev("response.output_item.added", output_index=n, item=item)
                if isinstance(part, ir.Text):
                    item["content"] = []
                    out += self._ev(
                        "response.content_part.added",
                        item_id=item["id"],
                        output_index=n,
                        content_index=0,
                        part={"type": "output_text", "text": "", "annotations": []},
                    )
                    if part.text:
                        out += self.encode(
                            ir.PartDelta(index=event.index, kind="text", text=part.text)
                        )
                elif isinstance(part, ir.Reasoning):
                    out += self._ev(
                        "response.reasoning_summary_part.added",
                        item_id=item["id"],
                        output_index=n,
                        summary_index=0,
                        part={"type": "summary_text", "text": ""},
                    )
                    if part.text:
                        out += self.encode(
                            ir.PartDelta(index=event.index, kind="reasoning", text=part.text)
                        )
                elif isinstance(part, ir.ToolCall) and part.arguments:
                    out += self.encode(
                        ir.PartDelta(index=event.index, kind="arguments", text=part.arguments)
                    )
                return out
            case ir.PartDelta():
                st = self._open.get(event.index)
                if st is None:
                    return b""
                item, n = st["item"], st["n"]
                if event.kind == "text":
                    st["text"].append(event.text)
                    return self._ev(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=n,
                        content_index=0,
                        logprobs=[],
                        delta=event.text,
                    )
                if event.kind == "reasoning":
                    st["text"].append(event.text)
                    return self._ev(
                        "response.reasoning_summary_text.delta",
                        item_id=item["id"],
                        output_index=n,
                        summary_index=0,
                        delta=event.text,
                    )
                if event.kind == "arguments":
                    st["text"].append(event.text)
                    return self._ev(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=n,
                        delta=event.text,
                    )
                if event.kind == "signature" and getattr(st["part"], "origin", None) == NAME:
                    st["signature"] = st.get("signature", "") + event.text
                return b""
            case ir.PartEnd():
                st = self._open.pop(event.index, None)
                if st is None:
                    return b""
                item, n, text = st["item"], st["n"], "".join(st["text"])
                out = b""
                item["status"] = "completed"
                if item["type"] == "message":
                    content = {"type": "output_text", "text": text, "annotations": []}
                    out += self._ev(
                        "response.output_text.done",
                        item_id=item["id"],
                        logprobs=[],
                        output_index=n,
                        content_index=0,
                        text=text,
                    )
                    out += self._ev(
                        "response.content_part.done",
                        item_id=item["id"],
                        output_index=n,
                        content_index=0,
                        part=content,
                    )
                    item["content"] = [content]
                elif item["type"] == "reasoning":
                    summary = {"type": "summary_text", "text": text}
                    out += self._ev(
                        "response.reasoning_summary_text.done",
                        item_id=item["id"],
                        output_index=n,
                        summary_index=0,
                        text=text,
                    )
                    out += self._ev(
                        "response.reasoning_summary_part.done",
                        item_id=item["id"],
                        output_index=n,
                        summary_index=0,
                        part=summary,
                    )
                    item["summary"] = [summary] if text else []
                    if st.get("signature"):
                        item["encrypted_content"] = st["signature"]
                elif item["type"] == "function_call":
                    item["arguments"] = text or "{}"
                    out += self._ev(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=n,
                        arguments=item["arguments"],
                    )
                return out + self._ev("response.output_item.done", output_index=n, item=item)
            case ir.UsageUpdate():
                self._usage = self._usage.merged(event.usage)
                return b""
            case ir.StreamFinish():
                self._done = True
                out = b"" if self._started else self._start("", "", None)
                obj = response_object(
                    self._id,
                    self._model,
                    self._created,
                    self._items,
                    event.finish,
                    self._usage.merged(event.usage),
                )
                kind = (
                    "response.completed" if obj["status"] == "completed" else "response.incomplete"
                )
                return out + self._ev(kind, response=obj)
            case ir.StreamError():
                self._done = True
                out = b"" if self._started else self._start("", "", None)
                obj = response_object(self._id, self._model, self._created, self._items, None, None)
                obj["status"] = "failed"
                obj["error"] = {
                    "code": event.error.code or event.error.kind,
                    "message": event.error.message,
                }
                return out + self._ev("response.failed", response=obj)
        return b""

    def close(self) -> bytes:
        return b""
