"""The upstream's Responses event stream → IR events.

Each output item is followed from ``response.output_item.added`` to ``.done``:

* ``message``: each content part (``output_text``/``refusal``) is a ``Text`` part, opened by
  ``content_part.added`` (or its first delta), fed by ``output_text.delta``, closed by
  ``content_part.done``; text that arrives only in a ``.done`` event is still forwarded.
* ``function_call``: a ``ToolCall`` opened at ``added`` (``call_id`` is the id, the ``fc_…`` id
  goes to native), fed by ``function_call_arguments.delta``; arguments that arrive only in
  ``function_call_arguments.done`` or ``output_item.done`` are forwarded then (edge 26).
* ``reasoning``: summary deltas (and ``reasoning_text`` deltas of open models) stream into one
  ``Reasoning`` text part, entries separated by a blank line; the final
  ``encrypted_content`` (only in ``output_item.done`` — the one in ``added`` is provisional)
  becomes a second, redacted ``Reasoning`` part (see ``items``).
* anything else (web search calls, custom tool calls, MCP…) becomes ``Opaque`` at ``done``.

Citations (``output_text.annotation.added``) are not streamed into the IR (a part's native is
fixed at its start); whole answers keep them.

The wire never interleaves items in practice, but the IR promise (one part open at a time)
does not rest on that: events of an item that is not the current one are queued and released
in ``output_index`` order. ``response.completed``/``incomplete`` finish with usage;
``response.failed`` and ``error`` events fail; EOF without them fails. ``obfuscation`` fields
and unknown event types are ignored.

Reference: https://platform.openai.com/docs/api-reference/responses-streaming
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from crosswire import ir
from crosswire.ir.ids import derived_call_id
from crosswire.protocols.common import as_dict, as_list, unix_time
from crosswire.protocols.openai_responses import errors, items
from crosswire.protocols.openai_responses.mapping import NAME
from crosswire.protocols.openai_responses.response import finish_in, usage_in
from crosswire.streams import SSEEventDecoder

#: A deferred operation of an item that is not the current one: ("start", part),
#: ("delta", kind, text) or ("end",).
_Op = tuple[Any, ...]

_START_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})


class _Item:
    """One output item: what it has started (logical state) and what waits for release."""

    __slots__ = (
        "args_sent",
        "content_seen",
        "done",
        "id",
        "kind",
        "meta",
        "ops",
        "part_open",
        "segment",
        "segment_text",
    )

    def __init__(self, kind: str, item_id: str | None) -> None:
        self.kind = kind
        self.id = item_id
        self.meta: dict[str, Any] = {}
        self.ops: list[_Op] = []
        self.done = False
        self.part_open = False
        self.segment: Any = None
        self.segment_text = False
        self.args_sent = False
        self.content_seen = False


class ResponsesStreamDecoder(SSEEventDecoder):
    def __init__(self, report: ir.Report) -> None:
        super().__init__()
        self._report = report
        self._rid = ""
        self._items: dict[int, _Item] = {}
        self._by_id: dict[str, _Item] = {}
        self._queue: deque[_Item] = deque()
        self._active: _Item | None = None
        self._any_call = False

    # ---- framing ------------------------------------------------------------------------------

    def _event(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        kind = ev.get("type")
        if kind in _START_EVENTS:
            self._start(as_dict(ev.get("response")), out)
            return
        self._start({}, out)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(self, ev, out)

    def _eof(self, out: list[ir.Event]) -> None:
        message = "the upstream stream ended before response.completed"
        self._stream.fail(ir.Error(kind="api_error", status=502, message=message), out)

    def _start(self, resp: dict[str, Any], out: list[ir.Event]) -> None:
        if self._stream.started:
            return
        self._rid = str(resp.get("id") or "")
        model, created = str(resp.get("model") or ""), unix_time(resp.get("created_at"))
        self._stream.start(out, id=self._rid, model=model, created=created)

    # ---- items and the release queue ----------------------------------------------------------

    def _register(
        self, index: int | None, kind: str, item_id: str | None, out: list[ir.Event]
    ) -> _Item:
        item = _Item(kind, item_id)
        key = index if index is not None else len(self._items)
        while key in self._items:
            key += 1
        self._items[key] = item
        if item_id:
            self._by_id[item_id] = item
        self._queue.append(item)
        self._advance(out)
        return item

    def _find(self, ev: dict[str, Any]) -> _Item | None:
        index = ev.get("output_index")
        if isinstance(index, int) and index in self._items:
            return self._items[index]
        item_id = ev.get("item_id")
        return self._by_id.get(item_id) if isinstance(item_id, str) else None

    def _item(self, ev: dict[str, Any], kind: str, out: list[ir.Event]) -> _Item:
        """The event's item, registered on the fly when the wire skipped ``added``."""
        found = self._find(ev)
        if found is not None:
            return found
        index = ev.get("output_index")
        item_id = ev.get("item_id")
        if not isinstance(index, int) and not isinstance(item_id, str) and self._queue:
            last = self._queue[-1]  # a server that names no item: the current one
            if last.kind == kind and not last.done:
                return last
        return self._register(
            index if isinstance(index, int) else None,
            kind,
            item_id if isinstance(item_id, str) else None,
            out,
        )

    def _op(self, item: _Item, op: _Op, out: list[ir.Event]) -> None:
        if item is self._active:
            self._apply(op, out)
        else:
            item.ops.append(op)

    def _apply(self, op: _Op, out: list[ir.Event]) -> None:
        if op[0] == "start":
            self._stream.begin(op[1], out)
            if isinstance(op[1], ir.ToolCall):
                self._any_call = True
        elif op[0] == "delta":
            if self._stream.tag is not None:
                self._stream.delta(op[1], op[2], out)
        else:
            self._stream.close(out)

    def _advance(self, out: list[ir.Event]) -> None:
        """Make the first unfinished item current, releasing what the ones before it queued."""
        while self._queue:
            head = self._queue[0]
            if head is not self._active:
                self._active = head
                for op in head.ops:
                    self._apply(op, out)
                head.ops.clear()
            if not head.done:
                return
            self._queue.popleft()
            self._active = None

    def _begin(self, item: _Item, part: ir.Part, out: list[ir.Event]) -> None:
        if item.part_open:
            self._op(item, ("end",), out)
        self._op(item, ("start", part), out)
        item.part_open = True

    def _end(self, item: _Item, out: list[ir.Event]) -> None:
        if item.part_open:
            self._op(item, ("end",), out)
            item.part_open = False

    def _finish_item(self, item: _Item, out: list[ir.Event]) -> None:
        self._end(item, out)
        item.done = True
        self._advance(out)

    # ---- events ---------------------------------------------------------------------------------

    def _added(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        raw = as_dict(ev.get("item"))
        index = ev.get("output_index")
        item_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        kind = str(raw.get("type") or "")
        item = self._register(index if isinstance(index, int) else None, kind, item_id, out)
        if kind == "message":
            item.meta = items.item_native(raw)
        elif kind == "function_call":
            self._open_call(item, raw, index, out)

    def _open_call(self, item: _Item, raw: dict[str, Any], index: Any, out: list[ir.Event]) -> None:
        position = index if isinstance(index, int) else len(self._items)
        call = items.tool_call_part(raw, derived_call_id(self._rid, position))
        self._begin(item, dataclasses.replace(call, arguments=""), out)
        if call.arguments:
            self._op(item, ("delta", "arguments", call.arguments), out)
            item.args_sent = True

    def _text_part(self, item: _Item, index: Any, refusal: bool, out: list[ir.Event]) -> None:
        """Make content part ``index`` of a message the open part."""
        if item.part_open and item.segment == index:
            return
        native = {**item.meta, "refusal": True} if refusal else dict(item.meta)
        self._begin(item, ir.Text(text="", native={NAME: native} if native else {}), out)
        item.segment, item.segment_text, item.content_seen = index, False, True

    def _text_delta(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._item(ev, "message", out)
        self._text_part(
            item, ev.get("content_index"), ev.get("type") == "response.refusal.delta", out
        )
        self._fragment(item, "text", ev.get("delta"), out)

    def _text_done(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._item(ev, "message", out)
        refusal = ev.get("type") == "response.refusal.done"
        self._text_part(item, ev.get("content_index"), refusal, out)
        self._done_text(item, "text", ev.get("refusal" if refusal else "text"), out)

    def _content_added(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        self._content_part(ev, False, out)

    def _content_done(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        self._content_part(ev, True, out)

    def _content_part(self, ev: dict[str, Any], done: bool, out: list[ir.Event]) -> None:
        """``content_part.added`` / ``.done``: a message's text or refusal part, or an open
        model's ``reasoning_text``; opened at ``added``, its whole text forwarded at ``done``
        when no delta brought it."""
        part = as_dict(ev.get("part"))
        kind = part.get("type")
        if kind == "reasoning_text":
            item = self._item(ev, "reasoning", out)
            key = ("content", ev.get("content_index"))
            if done:
                self._reasoning_text(item, key, part.get("text"), out)
            else:
                self._reasoning_segment(item, key, out)
            return
        if kind not in ("output_text", "refusal"):
            return
        item = self._item(ev, "message", out)
        self._text_part(item, ev.get("content_index"), kind == "refusal", out)
        text = part.get("text") if kind == "output_text" else part.get("refusal")
        if not done:
            self._fragment(item, "text", text, out)
            return
        self._done_text(item, "text", text, out)
        self._end(item, out)

    def _fragment(self, item: _Item, kind: str, text: Any, out: list[ir.Event]) -> None:
        """A delta of the open segment."""
        if isinstance(text, str) and text:
            self._op(item, ("delta", kind, text), out)
            item.segment_text = True

    def _done_text(self, item: _Item, kind: str, text: Any, out: list[ir.Event]) -> None:
        """A segment's whole text from a ``.done`` event: forwarded only when no delta did."""
        if not item.segment_text and isinstance(text, str) and text:
            self._op(item, ("delta", kind, text), out)
        item.segment_text = True

    def _reasoning_segment(self, item: _Item, key: Any, out: list[ir.Event]) -> None:
        if item.part_open and item.segment == key:
            return
        if not item.part_open:
            native = {NAME: {"id": item.id}} if item.id else {}
            self._begin(item, ir.Reasoning(origin=NAME, native=native), out)
        else:
            self._op(item, ("delta", "reasoning", items.REASONING_JOIN), out)
        item.segment, item.segment_text = key, False

    def _reasoning_text(self, item: _Item, key: Any, text: Any, out: list[ir.Event]) -> None:
        self._reasoning_segment(item, key, out)
        self._done_text(item, "reasoning", text, out)

    def _summary_part_added(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._item(ev, "reasoning", out)
        self._reasoning_segment(item, ("summary", ev.get("summary_index")), out)

    def _reasoning_delta(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._item(ev, "reasoning", out)
        if ev.get("type") == "response.reasoning_text.delta":
            key = ("content", ev.get("content_index"))
        else:
            key = ("summary", ev.get("summary_index"))
        self._reasoning_segment(item, key, out)
        self._fragment(item, "reasoning", ev.get("delta"), out)

    def _reasoning_done(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._item(ev, "reasoning", out)
        kind = ev.get("type")
        if kind == "response.reasoning_text.done":
            key, text = ("content", ev.get("content_index")), ev.get("text")
        elif kind == "response.reasoning_summary_part.done":
            key, text = ("summary", ev.get("summary_index")), as_dict(ev.get("part")).get("text")
        else:
            key, text = ("summary", ev.get("summary_index")), ev.get("text")
        self._reasoning_text(item, key, text, out)

    def _args_delta(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._find(ev)
        delta = ev.get("delta")
        if item is not None and item.part_open and isinstance(delta, str) and delta:
            self._op(item, ("delta", "arguments", delta), out)
            item.args_sent = True

    def _args_done(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        item = self._find(ev)
        args = ev.get("arguments")
        if (
            item is not None
            and item.part_open
            and not item.args_sent
            and isinstance(args, str)
            and args
        ):
            self._op(item, ("delta", "arguments", args), out)
            item.args_sent = True

    def _item_done(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        raw = as_dict(ev.get("item"))
        kind = str(raw.get("type") or "")
        item = self._find({**ev, "item_id": raw.get("id")})
        index = ev.get("output_index")
        if item is None:
            item_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            item = self._register(index if isinstance(index, int) else None, kind, item_id, out)
            if kind == "message":
                item.meta = items.item_native(raw)
        self._complete(item, raw, index, out)

    def _complete(self, item: _Item, raw: dict[str, Any], index: Any, out: list[ir.Event]) -> None:
        kind = raw.get("type")
        if kind == "message":
            if not item.content_seen:
                for part in items.message_parts(raw):
                    self._whole(item, part, out)
        elif kind == "function_call":
            if not item.part_open and not item.args_sent:
                self._open_call(item, raw, index, out)
            args = raw.get("arguments")
            if item.part_open and not item.args_sent and isinstance(args, str) and args:
                self._op(item, ("delta", "arguments", args), out)
                item.args_sent = True
        elif kind == "reasoning":
            self._complete_reasoning(item, raw, out)
        else:
            self._whole(item, ir.Opaque(origin=NAME, data=raw), out)
        self._finish_item(item, out)

    def _complete_reasoning(self, item: _Item, raw: dict[str, Any], out: list[ir.Event]) -> None:
        summary, content = items.reasoning_texts(raw)
        enc = raw.get("encrypted_content")
        encrypted = enc if isinstance(enc, str) else None
        if not item.part_open and (summary or content or encrypted is None):
            text_part = items.reasoning_parts({**raw, "encrypted_content": None})[0]
            self._whole(item, text_part, out)
        self._end(item, out)
        if encrypted is not None:
            native = {NAME: {"id": item.id}} if item.id else {}
            self._whole(item, ir.Reasoning(redacted=encrypted, origin=NAME, native=native), out)

    def _whole(self, item: _Item, part: ir.Part, out: list[ir.Event]) -> None:
        """A part known whole: started empty, its content as one delta (as ``replay``)."""
        if isinstance(part, ir.Text):
            self._begin(item, dataclasses.replace(part, text=""), out)
            self._op(item, ("delta", "text", part.text), out)
        elif isinstance(part, ir.Reasoning) and part.redacted is None:
            self._begin(item, dataclasses.replace(part, text=""), out)
            self._op(item, ("delta", "reasoning", part.text), out)
        else:
            self._begin(item, part, out)
        self._end(item, out)

    def _completed(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        resp = as_dict(ev.get("response"))
        if not self._items:  # a server that sent only the final object
            for n, raw in enumerate(as_list(resp.get("output"))):
                if isinstance(raw, dict):
                    self._item_done({"item": raw, "output_index": n}, out)
        for item in list(self._queue):
            self._end(item, out)
            item.done = True
        self._advance(out)
        status = resp.get("status")
        if status is None and ev.get("type") == "response.incomplete":
            status = "incomplete"
        finish = finish_in(status, resp.get("incomplete_details"), self._any_call)
        self._stream.finish(finish, out, usage_in(resp.get("usage")))

    def _failed(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        resp = as_dict(ev.get("response"))
        self._stream.fail(errors.from_stream(as_dict(resp.get("error"))), out)

    def _error(self, ev: dict[str, Any], out: list[ir.Event]) -> None:
        self._stream.fail(errors.from_stream(ev), out)


_HANDLERS = {
    "response.output_item.added": ResponsesStreamDecoder._added,
    "response.content_part.added": ResponsesStreamDecoder._content_added,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.refusal.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.done": ResponsesStreamDecoder._text_done,
    "response.content_part.done": ResponsesStreamDecoder._content_done,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part_added,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._reasoning_delta,
    "response.reasoning_text.delta": ResponsesStreamDecoder._reasoning_delta,
    "response.reasoning_summary_text.done": ResponsesStreamDecoder._reasoning_done,
    "response.reasoning_summary_part.done": ResponsesStreamDecoder._reasoning_done,
    "response.reasoning_text.done": ResponsesStreamDecoder._reasoning_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._args_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._args_done,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.completed": ResponsesStreamDecoder._completed,
    "response.incomplete": ResponsesStreamDecoder._completed,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._error,
}


def decoder(request: ir.Request, report: ir.Report) -> ResponsesStreamDecoder:
    return ResponsesStreamDecoder(report)
