"""IR events → a Responses event stream for the app (Codex, the Agents SDK, the openai SDK).

The lifecycle (edges 25, 26): ``response.created`` → ``response.in_progress`` → per output
item ``response.output_item.added`` → its content events → ``response.output_item.done`` →
``response.completed`` (or ``response.incomplete``), whose ``response`` holds the id, the
model, the whole output and the usage. Every event has ``type`` and a ``sequence_number``
counting from 0; ``output_index`` is the item's position in the output, ``content_index``
the part's position within its item. SSE ``event:`` lines name each event.

Items are grouped as the whole-answer encoder groups them (``items.group_parts``): text parts
in a row are content parts of one ``message`` item (it stays open after a part ends, until a
part of another kind starts or the stream finishes); a reasoning text part and the redacted
part that follows it are one ``reasoning`` item, which is announced only once it has text or
opaque state (so an empty reasoning part leaves no trace, as in a whole answer); a
``function_call`` item carries an ``fc_…`` id distinct from its ``call_id``. A call to a
free-form tool the app declared (``custom``) is a ``custom_tool_call`` item (``ctc_…``) whose
``input`` is the text of the IR arguments ``{"input": text}``, sent as one delta at its end.

An IR ``StreamError`` becomes an ``error`` event and then ``response.failed`` (edge 10; see
``errors``). Per delta, only the delta text is serialised: each item's event prefix is built
once.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crosswire import ir
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps_str
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.openai_responses import errors, items, tools
from crosswire.protocols.openai_responses.mapping import NAME
from crosswire.protocols.openai_responses.response import (
    item_id,
    note_dropped,
    request_echo,
    response_id,
    response_object,
)


def _json(value: Any) -> bytes:
    return dumps_str(value).encode("utf-8", "replace")


class _Open:
    """The item being written: what its done event and the final output need."""

    __slots__ = (
        "announced",
        "chunks",
        "content",
        "group",
        "id",
        "index",
        "item",
        "kind",
        "last",
        "literals",
        "origin",
        "prefix",
        "redacted",
        "refusal",
        "signature",
        "summary_closed",
        "summary_open",
    )

    def __init__(self, kind: str, group: Any, item_id_: str, index: int) -> None:
        self.kind = kind
        self.group = group
        self.id = item_id_
        self.index = index
        self.item: dict[str, Any] = {}
        self.announced = False
        self.chunks: list[str] = []
        #: Text deltas carried as JSON literals (``text_literal``) after the last chunk, not
        #: decoded yet: a run of them is decoded at once when the text is next needed.
        self.literals: list[bytes] = []
        self.content: list[dict[str, Any]] = []
        self.prefix = b""
        self.refusal = False
        self.last: ir.Part | None = None
        self.signature: list[str] = []
        self.redacted: str | None = None
        self.summary_open = False
        self.summary_closed = False
        self.origin: str | None = None

    def add_text(self, text: str) -> None:
        self._decode_literals()
        self.chunks.append(text)

    def text(self) -> str:
        self._decode_literals()
        return "".join(self.chunks)

    def _decode_literals(self) -> None:
        """One ``json.loads`` for every literal since the last chunk (per literal it would
        cost a third of a carried delta)."""
        if self.literals:
            self.chunks += json.loads(b"[" + b",".join(self.literals) + b"]")
            self.literals.clear()


class ResponsesStreamEncoder(EventEncoder):
    takes_literal_text = True

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        super().__init__()
        self._report = report
        self._echo = request_echo(request)
        self._tools = tools.Index(request)
        self._model = request.model
        self._rid = ""
        self._created = 0
        self._seq = 0
        self._started = False
        self._output: list[dict[str, Any]] = []
        self._cur: _Open | None = None
        self._parts: dict[int, _Open | None] = {}  # open IR part → its item (None: ignored)

    # ---- framing --------------------------------------------------------------------------------

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        seq = self._seq
        self._seq += 1
        body = _json({"type": kind, "sequence_number": seq, **fields})
        return b"event: " + kind.encode() + b"\ndata: " + body + b"\n\n"

    @staticmethod
    def _prefix(kind: str, fields: dict[str, Any]) -> bytes:
        """Everything of a delta event before its sequence number (built once per part)."""
        head = _json({"type": kind, **fields})[:-1]
        return b"event: " + kind.encode() + b"\ndata: " + head + b',"sequence_number":'

    def _delta(self, prefix: bytes, text: str) -> bytes:
        return self._literal_delta(prefix, _json(text))

    def _literal_delta(self, prefix: bytes, literal: bytes) -> bytes:
        seq = self._seq
        self._seq += 1
        return prefix + str(seq).encode() + b',"delta":' + literal + b"}\n\n"

    def _response(
        self,
        finish: ir.Finish | None,
        usage: ir.Usage | None,
        error: ir.Error | None = None,
    ) -> dict[str, Any]:
        return response_object(
            self._rid, self._model, self._created, self._echo, self._output, finish, usage, error
        )

    # ---- events ---------------------------------------------------------------------------------

    def _response_start(self, event: ir.ResponseStart) -> bytes:
        return self._start(event.id, event.model, event.created, event.usage)

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._start("", "", None, ir.Usage())

    def _start(self, rid: str, model: str, created: int | None, usage: ir.Usage) -> bytes:
        if self._started:
            return b""
        self._started = True
        self._rid = response_id(rid)
        self._model = model or self._model
        self._created = created or int(time.time())
        self._usage = self._usage.merged(usage)
        obj = self._response(None, None)
        return self._event("response.created", {"response": obj}) + self._event(
            "response.in_progress", {"response": obj}
        )

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        if items.is_message_part(part):
            return self._text_start(index, part)
        if isinstance(part, ir.Reasoning):
            return self._reasoning_start(index, part)
        if isinstance(part, ir.ToolCall):
            return self._call_start(index, part)
        self._parts[index] = None
        if isinstance(part, ir.Opaque) and part.origin == NAME:
            out = self._close_item()
            item = items.opaque_item(part)
            n = len(self._output)
            self._output.append(item)
            return (
                out
                + self._event("response.output_item.added", {"output_index": n, "item": item})
                + self._event("response.output_item.done", {"output_index": n, "item": item})
            )
        note_dropped(part, self._report)
        return b""

    def _open(self, kind: str, group: Any, prefix: str, wanted: Any) -> tuple[bytes, _Open]:
        out = self._close_item()
        n = len(self._output)
        cur = _Open(kind, group, item_id(prefix, wanted, self._rid, n), n)
        self._cur = cur
        return out, cur

    # text ------------------------------------------------------------------------------------

    def _text_start(self, index: int, part: ir.Part) -> bytes:
        native = items.own(part)
        group = native.get("item_id")
        out = b""
        cur = self._cur
        if cur is None or cur.kind != "message" or cur.group != group:
            out, cur = self._open("message", group, "msg", group)
            cur.item = {
                "type": "message",
                "id": cur.id,
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            if native.get("phase"):
                cur.item["phase"] = native["phase"]
            cur.announced = True
            out += self._event(
                "response.output_item.added", {"output_index": cur.index, "item": cur.item}
            )
        self._parts[index] = cur
        k = len(cur.content)
        where = {"item_id": cur.id, "output_index": cur.index, "content_index": k}
        if isinstance(part, ir.Opaque):
            content = dict(part.data)
            cur.content.append(content)
            cur.last = part
            return (
                out
                + self._event("response.content_part.added", {**where, "part": content})
                + self._event("response.content_part.done", {**where, "part": content})
            )
        assert isinstance(part, ir.Text)
        cur.refusal = bool(native.get("refusal"))
        cur.chunks = []
        cur.literals = []
        cur.last = part
        if cur.refusal:
            empty: dict[str, Any] = {"type": "refusal", "refusal": ""}
            cur.prefix = self._prefix("response.refusal.delta", where)
        else:
            empty = {"type": "output_text", "text": "", "annotations": []}
            cur.prefix = self._prefix("response.output_text.delta", {**where, "logprobs": []})
        out += self._event("response.content_part.added", {**where, "part": empty})
        if part.text:
            cur.chunks.append(part.text)
            out += self._delta(cur.prefix, part.text)
        return out

    def _text_end(self, cur: _Open) -> bytes:
        if isinstance(cur.last, ir.Opaque):
            return b""
        text = cur.text()
        k = len(cur.content)
        where = {"item_id": cur.id, "output_index": cur.index, "content_index": k}
        content: dict[str, Any]
        if cur.refusal:
            content = {"type": "refusal", "refusal": text}
            out = self._event("response.refusal.done", {**where, "refusal": text})
        else:
            annotations = items.own(cur.last).get("annotations", []) if cur.last else []
            content = {"type": "output_text", "text": text, "annotations": annotations}
            out = self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
        cur.content.append(content)
        return out + self._event("response.content_part.done", {**where, "part": content})

    # reasoning -------------------------------------------------------------------------------

    def _reasoning_start(self, index: int, part: ir.Reasoning) -> bytes:
        out = b""
        cur = self._cur
        if not (
            cur is not None
            and cur.kind == "reasoning"
            and cur.last is not None
            and items.continues_reasoning(cur.last, part)
        ):
            out, cur = self._open("reasoning", None, "rs", items.own(part).get("id"))
            cur.item = {"type": "reasoning", "id": cur.id, "summary": []}
        self._parts[index] = cur
        cur.last = part
        if part.redacted is not None:
            cur.redacted = part.redacted
        if part.signature:
            cur.signature.append(part.signature)
        if cur.origin is None:
            cur.origin = part.origin
        if part.text:
            out += self._reasoning_text(cur, part.text)
        return out

    def _announce(self, cur: _Open) -> bytes:
        if cur.announced:
            return b""
        cur.announced = True
        return self._event(
            "response.output_item.added", {"output_index": cur.index, "item": cur.item}
        )

    def _reasoning_text(self, cur: _Open, text: str) -> bytes:
        if cur.summary_closed:
            return b""
        out = self._announce(cur)
        if not cur.summary_open:
            cur.summary_open = True
            where = {"item_id": cur.id, "output_index": cur.index, "summary_index": 0}
            cur.prefix = self._prefix("response.reasoning_summary_text.delta", where)
            out += self._event(
                "response.reasoning_summary_part.added",
                {**where, "part": {"type": "summary_text", "text": ""}},
            )
        cur.chunks.append(text)
        return out + self._delta(cur.prefix, text)

    def _reasoning_end(self, cur: _Open) -> bytes:
        if not cur.summary_open or cur.summary_closed:
            return b""
        cur.summary_closed = True
        text = cur.text()
        where = {"item_id": cur.id, "output_index": cur.index, "summary_index": 0}
        return self._event(
            "response.reasoning_summary_text.done", {**where, "text": text}
        ) + self._event(
            "response.reasoning_summary_part.done",
            {**where, "part": {"type": "summary_text", "text": text}},
        )

    def _reasoning_item(self, cur: _Open) -> dict[str, Any] | None:
        text = cur.text()
        state = items.ReasoningState(
            text=text,
            summary=[text] if text else [],
            content=[],
            origin=cur.origin,
            signature="".join(cur.signature) or None,
            redacted=cur.redacted,
        )
        encrypted = items.encrypted_for_client(state)
        if not text and encrypted is None:
            return None
        item: dict[str, Any] = {
            "type": "reasoning",
            "id": cur.id,
            "summary": items.summary_list(state.summary),
        }
        if encrypted is not None:
            item["encrypted_content"] = encrypted
        return item

    # function calls --------------------------------------------------------------------------

    def _call_start(self, index: int, part: ir.ToolCall) -> bytes:
        custom = self._tools.is_freeform(part)
        kind, prefix = ("custom_tool_call", "ctc") if custom else ("function_call", "fc")
        out, cur = self._open(kind, None, prefix, items.own(part).get("id"))
        self._parts[index] = cur
        cur.item = self._tools.call_item(part, cur.id)
        cur.announced = True
        cur.chunks.append(part.arguments)
        if custom:
            # The IR arguments are {"input": text}: the text is known whole only at the end,
            # so its one delta goes out then.
            cur.item["input"] = ""
            return out + self._event(
                "response.output_item.added", {"output_index": cur.index, "item": cur.item}
            )
        cur.item["arguments"] = ""
        cur.item["status"] = "in_progress"
        cur.prefix = self._prefix(
            "response.function_call_arguments.delta", {"item_id": cur.id, "output_index": cur.index}
        )
        out += self._event(
            "response.output_item.added", {"output_index": cur.index, "item": cur.item}
        )
        if part.arguments:
            out += self._delta(cur.prefix, part.arguments)
        return out

    def _call_end(self, cur: _Open) -> bytes:
        arguments = cur.text()
        where = {"item_id": cur.id, "output_index": cur.index}
        self._cur = None
        if cur.kind == "custom_tool_call":
            text = tools.unwrap(arguments)
            item = {**cur.item, "input": text}
            self._output.append(item)
            return (
                (
                    self._event("response.custom_tool_call_input.delta", {**where, "delta": text})
                    if text
                    else b""
                )
                + self._event("response.custom_tool_call_input.done", {**where, "input": text})
                + self._event(
                    "response.output_item.done", {"output_index": cur.index, "item": item}
                )
            )
        item = {
            **cur.item,
            "arguments": arguments if arguments.strip() else "{}",
            "status": "completed",
        }
        self._output.append(item)
        return self._event(
            "response.function_call_arguments.done", {**where, "arguments": item["arguments"]}
        ) + self._event("response.output_item.done", {"output_index": cur.index, "item": item})

    # deltas and ends -------------------------------------------------------------------------

    def text_literal(self, index: int, literal: bytes) -> bytes | None:
        cur = self._parts.get(index)
        if self._done or cur is None or cur.kind != "message":
            return None
        cur.literals.append(literal)  # the text itself, for the done events
        return self._literal_delta(cur.prefix, literal)

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        cur = self._parts.get(event.index)
        if cur is None or not event.text:
            return b""
        if event.kind == "text" and cur.kind == "message":
            cur.add_text(event.text)
            return self._delta(cur.prefix, event.text)
        if event.kind == "arguments" and cur.kind == "function_call":
            cur.chunks.append(event.text)
            return self._delta(cur.prefix, event.text)
        if event.kind == "arguments" and cur.kind == "custom_tool_call":
            cur.chunks.append(event.text)
            return b""
        if event.kind == "reasoning" and cur.kind == "reasoning":
            return self._reasoning_text(cur, event.text)
        if event.kind == "signature" and cur.kind == "reasoning":
            cur.signature.append(event.text)
        return b""

    def _part_end(self, index: int) -> bytes:
        cur = self._parts.pop(index, None)
        if cur is None or cur is not self._cur:
            return b""
        if cur.kind == "message":
            return self._text_end(cur)
        if cur.kind in ("function_call", "custom_tool_call"):
            return self._call_end(cur)
        return self._reasoning_end(cur)

    def _close_item(self) -> bytes:
        """``output_item.done`` for the message or reasoning item still open."""
        cur = self._cur
        self._cur = None
        if cur is None:
            return b""
        if cur.kind == "message":
            item = {**cur.item, "status": "completed", "content": cur.content}
        elif cur.kind == "reasoning":
            reasoning = self._reasoning_item(cur)
            if reasoning is None:
                return b""
            item = reasoning
        else:
            return b""  # a call cut short: no done event for partial arguments
        out = self._announce(cur)
        self._output.append(item)
        return out + self._event(
            "response.output_item.done", {"output_index": cur.index, "item": item}
        )

    # the end ---------------------------------------------------------------------------------

    def _finish(self, event: ir.StreamFinish) -> bytes:
        out = self._ensure_started() + self._close_item()
        obj = self._response(event.finish, self._usage.merged(event.usage))
        kind = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
            obj["status"], "response.failed"
        )
        return out + self._event(kind, {"response": obj})

    def _fail(self, error: ir.Error) -> bytes:
        out = self._ensure_started()
        obj = self._response(None, self._usage, error)
        return (
            out
            + self._event("error", errors.event_fields(error))
            + self._event("response.failed", {"response": obj})
        )


def encoder(call: ClientCall, request: ir.Request, report: ir.Report) -> ResponsesStreamEncoder:
    return ResponsesStreamEncoder(request, report)
