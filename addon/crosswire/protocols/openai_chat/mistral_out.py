"""Answers for apps on Mistral's SDK (``ClientCall.dialect == "mistral"``), whole and streamed.

Mistral's chat wire is OpenAI Chat with three differences its SDK depends on
(https://docs.mistral.ai/api/ ``CompletionChunk``, ``DeltaMessage``, ``ToolCall``):

* a streamed tool call arrives **whole** in one chunk — ``id``, ``type``, ``function.name``,
  the complete ``arguments`` and ``index`` — because the SDK's ``ToolCall`` model requires
  ``function.name`` on every fragment: OpenAI-style argument fragments fail its validation.
  The encoder buffers a call's argument deltas and writes it at the call's end;
* ``finish_reason`` and ``usage`` ride on the **last content chunk** (there is no empty
  finishing chunk and no ``stream_options``): the encoder holds one rendered delta back so that
  the finish can join it. Text therefore reaches the app one delta late, never later;
* reasoning is ``content: [{"type":"thinking","thinking":[{"type":"text","text":…}]}]``,
  refusals are plain content, there is no ``logprobs: null`` and no ``refusal`` field.
"""

from __future__ import annotations

import time
from typing import Any

from crosswire import ir
from crosswire.protocols.openai_chat import reasoning
from crosswire.protocols.openai_chat.mapping import MISTRAL_FINISH_OUT
from crosswire.protocols.openai_chat.response import completion_id, safe_dumps
from crosswire.protocols.openai_chat.stream_encode import DONE, ChatStreamEncoder
from crosswire.protocols.openai_chat.usage import finish_out, usage_out


def tool_call(call: ir.ToolCall, index: int) -> dict[str, Any]:
    """One whole Mistral tool call (``arguments`` is ``"{}"`` when the call has none)."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments or "{}"},
        "index": index,
    }


# ---- whole answers -----------------------------------------------------------------------------


def encode_response(response: ir.Response, request: ir.Request, report: ir.Report) -> bytes:
    texts: list[str] = []
    chunks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for part in response.parts:
        match part:
            case ir.Text():
                texts.append(part.text)
            case ir.Reasoning() if part.text:
                if reasoning.needs_carrier(part):
                    report.dropped("reasoning.signature", "Mistral's SDK has no place for it")
                chunks.append({**reasoning.thinking_chunk(part.text), "closed": True})
            case ir.Reasoning():
                report.dropped("reasoning", "opaque reasoning state; Mistral's SDK has no place")
            case ir.ToolCall():
                calls.append(tool_call(part, len(calls)))
            case _:
                label = part.data.get("type", "block") if isinstance(part, ir.Opaque) else part.type
                report.dropped(str(label), "a Mistral chat answer has no place for it")
    text = "".join(texts)
    content: str | list[dict[str, Any]] = text
    if chunks:
        content = chunks + ([{"type": "text", "text": text}] if text else [])
    body = {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model or request.model,
        "usage": usage_out(response.usage),
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_out(response.finish, bool(calls), MISTRAL_FINISH_OUT),
                "message": {"role": "assistant", "tool_calls": calls or None, "content": content},
            }
        ],
    }
    return safe_dumps(body)


# ---- streams -----------------------------------------------------------------------------------


class MistralStreamEncoder(ChatStreamEncoder):
    dialect = "mistral"

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        super().__init__(request, report)
        self._pending: bytes | None = None  # the last delta, held for the finish to join
        self._calls: dict[int, ir.ToolCall] = {}  # IR part index → the call so far
        self._arguments_so_far: dict[int, list[str]] = {}

    def _build_tails(self) -> None:
        self._tail = b',"finish_reason":null}]}\n\n'

    def _emit(self, delta: bytes) -> bytes:
        out = self._flush()
        self._pending = delta
        return out

    def _flush(self) -> bytes:
        if self._pending is None:
            return b""
        out = self._head + self._pending + self._tail
        self._pending = None
        return out

    def _literal_field(self, name: bytes, literal: bytes) -> bytes:
        return super()._literal_field(b"content" if name == b"refusal" else name, literal)

    def _reasoning_delta(self, text: str) -> bytes:
        return self._delta({"content": [reasoning.thinking_chunk(text)]})

    def _part_start(self, index: int, part: ir.Part) -> bytes:
        if not isinstance(part, ir.ToolCall):
            return super()._part_start(index, part)
        self._tool_index[index] = self._tool_count
        self._tool_count += 1
        self._calls[index] = part
        self._arguments_so_far[index] = [part.arguments] if part.arguments else []
        return b""

    def _part_delta(self, event: ir.PartDelta) -> bytes:
        if event.kind == "arguments" and event.index in self._calls:
            self._arguments_so_far[event.index].append(event.text)
            return b""
        return super()._part_delta(event)

    def _part_end(self, index: int) -> bytes:
        call = self._calls.pop(index, None)
        if call is not None:
            arguments = "".join(self._arguments_so_far.pop(index, []))
            whole = ir.ToolCall(id=call.id, name=call.name, arguments=arguments)
            return self._delta({"tool_calls": [tool_call(whole, self._tool_index[index])]})
        part = self._reasoning.pop(index, None)
        if part is not None and reasoning.needs_carrier(part):
            self._report.dropped("reasoning.signature", "Mistral's SDK has no place for it")
        return b""

    def _finish(self, event: ir.StreamFinish) -> bytes:
        out = self._ensure_started()
        delta = self._pending if self._pending is not None else b'{"content":""}'
        self._pending = None
        reason = finish_out(event.finish, self._tool_count > 0, MISTRAL_FINISH_OUT)
        usage = safe_dumps(usage_out(self._usage.merged(event.usage)))
        return (
            out
            + self._head
            + delta
            + b',"finish_reason":"'
            + reason.encode()
            + b'"}],"usage":'
            + usage
            + b"}\n\n"
            + DONE
        )

    def close(self) -> bytes:
        return b"" if self._done else self._flush()
