"""Upstream ``chat.completion.chunk`` streams → IR events, incrementally.

Streaming: https://platform.openai.com/docs/api-reference/chat-streaming

Theory of operation. Chunks carry deltas for text (``content``), reasoning
(``reasoning_content``, ``reasoning``, Mistral ``thinking`` chunks), refusals and tool calls
addressed by ``tool_calls[].index``. The IR keeps one part open at a time, so:

* the open tool call gets its argument fragments forwarded as they arrive (edge 15);
* anything else that arrives while that call's arguments are not yet a complete JSON value —
  another call's fragments (parallel calls interleaved by index), reasoning, text — is queued
  in arrival order and released when the call is complete or at the finish (edge 16, 20);
  a new call after one whose arguments are complete (or still empty: a call without
  arguments, edge 22) simply closes it;
* empty ``content`` deltas are noise and ignored (edge 16).

``finish_reason`` is held until usage arrives (OpenAI's final ``choices: []`` chunk; Mistral
puts usage on the finish chunk) or ``[DONE]``, then one ``StreamFinish`` carries both (edge
24). Chunks with ``choices: []`` and no usage (Azure ``prompt_filter_results``) are metadata
(edge 9); ``obfuscation`` and Mistral's ``p`` padding are ignored. An in-band ``{"error":…}``
chunk (or Mistral's and vLLM's flat ``{"object":"error",…}``) is a ``StreamError`` (edge 10); EOF before ``[DONE]`` and before the usage that follows
a finish is a ``StreamError`` too (edge 11).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from crosswire import ir
from crosswire.ir import ids
from crosswire.protocols import openai_errors
from crosswire.protocols.common import as_dict, unix_time
from crosswire.protocols.literal import TEXT_LITERAL, carries
from crosswire.protocols.openai_chat import reasoning
from crosswire.protocols.openai_chat.mapping import NAME
from crosswire.protocols.openai_chat.request_decode import arguments_text
from crosswire.protocols.openai_chat.usage import finish_in, usage_in
from crosswire.streams import SSEEventDecoder

ContentKind = Literal["text", "reasoning", "refusal"]
_REFUSAL_NATIVE = {NAME: {"refusal": True}}
#: A top-level field with a plain value (id, object, created, model, service_tier,
#: system_fingerprint, ``"usage":null``, ``obfuscation``, Mistral's ``p``…); never ``choices``.
_PLAIN_FIELD = rb'"(?!choices")[a-z_]++":(?:"[^"\\]*+"|-?\d++|null)'
_CHOICE = (
    rb'"choices":\[\{"index":0,"delta":\{"content":(' + TEXT_LITERAL + rb")\}"
    rb'(?:,"logprobs":null)?,"finish_reason":null\}\](?:,' + _PLAIN_FIELD + rb")*+\}"
)
#: A chunk whose only content is a text delta for choice 0, in OpenAI's (and Mistral's) field
#: order; any other spelling is decoded the slow way. Groups: the head (every field before
#: ``choices``), the literal.
_TEXT_CHUNK = re.compile(rb"(data: ?\{(?:" + _PLAIN_FIELD + rb",)*+)" + _CHOICE)
#: The same chunk from ``choices`` on: a stream repeats its head (id, created, model…) in every
#: chunk, so once one head has matched, a chunk that starts with it is checked from there.
_TEXT_CHOICE = re.compile(_CHOICE)


@dataclass(slots=True)
class _Call:
    """One tool call of the stream, by its position in the IR once started."""

    id: str | None
    name: str | None
    fragments: list[str] = field(default_factory=list)  # all arguments seen so far
    forwarded: int = 0  # how many of them went out as deltas
    started: bool = False
    queued: bool = False
    complete: bool | None = None  # cached JSON check of ``fragments``; None = unknown


class ChatStreamDecoder(SSEEventDecoder):
    gives_literal_text = True

    def __init__(self, report: ir.Report | None = None) -> None:
        super().__init__()
        self._report = report if report is not None else ir.Report()
        self._id = ""
        self._calls: dict[int, _Call] = {}  # wire index → current call at that index
        self._queue: list[tuple[ContentKind, str] | _Call] = []
        self._any_call = False
        self._finish_raw: Any = None
        self._finish_choice: dict[str, Any] | None = None
        self._usage = ir.Usage()
        #: The head of the last chunk carried as a literal (``literal_text``).
        self._literal_head = b"\x00"

    # ---- frames -----------------------------------------------------------------------------

    def literal_text(self, frame: bytes) -> tuple[int, bytes] | None:
        head = self._literal_head
        found = _TEXT_CHOICE.fullmatch(frame, len(head)) if frame.startswith(head) else None
        if found is not None:
            literal = found[1]
        else:
            found = self._literal_match(_TEXT_CHUNK, frame, b'"content":"')
            if found is None:
                return None
            self._literal_head, literal = found[1], found[2]
        stream = self._stream
        # Only where the slow path forwards the text into the open text part at once.
        if not stream.started or stream.done or self._queue or stream.tag != "text":
            return None
        if literal == b'""' or not carries(literal):
            return None
        return stream.next - 1, literal

    def _done(self, out: list[ir.Event]) -> None:
        self._finish(out)

    def _event(self, chunk: dict[str, Any], out: list[ir.Event]) -> None:
        error = openai_errors.chunk_error(chunk)
        if error is not None:
            self._close_all(out)
            self._stream.fail(error, out)
            return
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if not choices and not isinstance(usage, dict):
            return  # Azure prompt_filter_results and other metadata (edge 9)
        if not self._stream.started:
            self._start(chunk, out)
        if isinstance(usage, dict):
            self._usage = self._usage.merged(usage_in(usage))
        if isinstance(choices, list):
            choice = next(
                (c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None
            )
            if choice is not None:
                self._delta(as_dict(choice.get("delta")), out)
                if choice.get("finish_reason"):
                    self._finish_raw = choice["finish_reason"]
                    self._finish_choice = choice
                    self._close_all(out)
        if self._finish_choice is not None and isinstance(usage, dict):
            self._finish(out)

    def _eof(self, out: list[ir.Event]) -> None:
        self._close_all(out)
        reason = "after its finish_reason" if self._finish_choice else "before it finished"
        message = f"upstream stream ended {reason} (no [DONE])"
        self._stream.fail(ir.Error(kind="api_error", message=message, status=502), out)

    def _start(self, chunk: dict[str, Any], out: list[ir.Event]) -> None:
        self._id = str(chunk.get("id") or "")
        model, created = str(chunk.get("model") or ""), unix_time(chunk.get("created"))
        self._stream.start(out, id=self._id, model=model, created=created)

    def _finish(self, out: list[ir.Event]) -> None:
        self._close_all(out)
        finish = finish_in(self._finish_raw, self._any_call, self._finish_choice or {})
        self._stream.start(out, id=self._id)
        self._stream.finish(finish, out, self._usage)

    # ---- deltas -----------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any], out: list[ir.Event]) -> None:
        text = reasoning.plain_text(delta)
        if text:
            self._content("reasoning", text, out)
        body = delta.get("content")
        if isinstance(body, str):
            if body:
                self._content("text", body, out)
        elif isinstance(body, list):  # Mistral reasoning models
            for chunk in body:
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("type") == "thinking":
                    self._content_if("reasoning", reasoning.thinking_chunk_text(chunk), out)
                elif chunk.get("type") == "text" and isinstance(chunk.get("text"), str):
                    self._content_if("text", chunk["text"], out)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._content("refusal", refusal, out)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, raw in enumerate(calls):
                if isinstance(raw, dict):
                    self._call_fragment(raw, position, out)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._call_fragment({"index": 0, "function": legacy}, 0, out)

    def _content_if(self, kind: ContentKind, text: str, out: list[ir.Event]) -> None:
        if text:  # empty deltas are noise (edge 16)
            self._content(kind, text, out)

    def _content(self, kind: ContentKind, text: str, out: list[ir.Event]) -> None:
        if self._queue or self._blocked():
            self._queue.append((kind, text))  # noise inside a tool call (edge 16)
            return
        self._emit_content(kind, text, out)

    def _emit_content(self, kind: ContentKind, text: str, out: list[ir.Event]) -> None:
        if self._stream.tag != kind:
            if kind == "reasoning":
                part: ir.Part = ir.Reasoning(origin=NAME)
            else:
                part = ir.Text(text="", native=_REFUSAL_NATIVE if kind == "refusal" else {})
            self._stream.begin(part, out, kind)
        self._stream.delta("reasoning" if kind == "reasoning" else "text", text, out)

    def _call_fragment(self, raw: dict[str, Any], position: int, out: list[ir.Event]) -> None:
        wire = raw.get("index")
        key = wire if isinstance(wire, int) and not isinstance(wire, bool) else position
        fn = as_dict(raw.get("function"))
        if raw.get("type") == "custom":
            fn = as_dict(raw.get("custom"))
            fn = {"name": fn.get("name"), "arguments": fn.get("input")}
        call_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
        name = fn.get("name") if isinstance(fn.get("name"), str) and fn.get("name") else None
        call = self._calls.get(key)
        if call is None or (call_id is not None and call.id is not None and call_id != call.id):
            # A new call; servers that give every call index 0 (Ollama) differ by id (edge 20).
            call = self._calls[key] = _Call(id=call_id, name=name)
        else:
            call.id = call.id or call_id
            call.name = call.name or name
        args = arguments_text(fn.get("arguments"))
        if args:
            call.fragments.append(args)
            call.complete = None
        if call is self._stream.tag:
            self._forward(call, out)
            if self._queue and args.rstrip().endswith(("}", "]")):
                self._drain(out)
        elif call.started:
            if args:
                self._report.dropped(
                    "tool_calls arguments", "a fragment arrived after its call had closed"
                )
        elif call.queued:
            if self._queue[0] is call and name is not None:
                self._drain(out)  # the head of the queue was waiting for its name
        else:
            call.queued = True
            self._queue.append(call)
            self._drain(out)

    def _blocked(self) -> bool:
        """True while the open tool call may still receive argument fragments."""
        open_call = self._stream.tag
        return isinstance(open_call, _Call) and not self._strictly_complete(open_call)

    def _drain(self, out: list[ir.Event]) -> None:
        """Play the queue while nothing holds it: an open call with incomplete arguments holds
        everything, except that a call without any arguments yields to the next call (edge
        22); a call still waiting for its name holds what follows it."""
        while self._queue:
            head = self._queue[0]
            if self._blocked():
                open_call = self._stream.tag
                assert isinstance(open_call, _Call)
                if not (isinstance(head, _Call) and not open_call.fragments):
                    return
            if isinstance(head, _Call):
                if head.name is None:
                    return
                self._queue.pop(0)
                self._start_call(head, out)
            else:
                self._queue.pop(0)
                self._emit_content(head[0], head[1], out)

    def _start_call(self, call: _Call, out: list[ir.Event]) -> None:
        call.started = True
        call.queued = False
        self._any_call = True
        call_id = call.id or ids.derived_call_id(self._id, self._stream.next)
        self._stream.begin(ir.ToolCall(id=call_id, name=call.name or "", arguments=""), out, call)
        self._forward(call, out)

    def _forward(self, call: _Call, out: list[ir.Event]) -> None:
        if call.forwarded < len(call.fragments):
            text = "".join(call.fragments[call.forwarded :])
            call.forwarded = len(call.fragments)
            self._stream.delta("arguments", text, out)

    def _strictly_complete(self, call: _Call) -> bool:
        if call.complete is None:
            text = "".join(call.fragments)
            try:
                json.loads(text)
            except ValueError:
                call.complete = False
            else:
                call.complete = bool(text)
        return call.complete

    def _release_all(self, out: list[ir.Event]) -> None:
        """At the finish: everything still queued goes out, in arrival order."""
        queue, self._queue = self._queue, []
        for item in queue:
            if isinstance(item, _Call):
                self._start_call(item, out)
            else:
                self._emit_content(item[0], item[1], out)

    def _close_all(self, out: list[ir.Event]) -> None:
        self._release_all(out)
        self._stream.close(out)


def decoder(request: ir.Request, report: ir.Report) -> ChatStreamDecoder:
    return ChatStreamDecoder(report)
