"""Chat-completion chunk streams ⇄ IR events, incrementally.

Decoder theory of operation: chunks carry deltas for text, reasoning (``reasoning_content``,
OpenRouter's ``reasoning``, Mistral's thinking chunks) and tool calls addressed by
``tool_calls[].index``. The IR allows one open part at a time, so a part closes when a delta of
another kind (or another tool index) arrives; reasoning that shows up inside an open tool call
is held until the call closes (edge 16). ``finish_reason`` is held until ``[DONE]`` so that the
final usage chunk (``choices: []``) is folded into the one ``StreamFinish`` (edge 24).
"""

from __future__ import annotations

import json
import time
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols import openai_errors as errors
from crosswire.protocols.common import as_dict
from crosswire.protocols.openai_chat.response import finish_in, finish_out, usage_in, usage_out
from crosswire.streams import SSEEventDecoder

NAME = "openai-chat"


class ChatStreamDecoder(SSEEventDecoder):
    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._id = ""
        self._open: tuple[str, int] | None = None  # ("text"|"reasoning"|"tool", wire tool index)
        self._next = 0
        self._tools: dict[int, dict[str, Any]] = {}  # wire index -> {id, name, part, pending}
        self._held_reasoning: list[str] = []
        self._finish_raw: str | None = None
        self._finish_seen = False
        self._choice: dict[str, Any] = {}
        self._usage = ir.Usage()
        self._any_tool = False

    def _eof(self, out: list[ir.Event]) -> None:
        if self._finish_seen:
            self._finish(out)  # lenient: servers that omit [DONE] after a finish_reason
        else:
            self._close(out)
            out.append(
                ir.StreamError(
                    error=ir.Error.of(
                        "api_error",
                        "upstream stream ended before it finished (no finish_reason / [DONE])",
                    )
                )
            )
            self._done = True

    # ---- frames -----------------------------------------------------------------------------

    def _frame(self, data: str, out: list[ir.Event]) -> None:
        if data == "[DONE]":
            self._finish(out)
            return
        if not data:
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"invalid JSON in stream chunk: {exc}") from exc
        if not isinstance(chunk, dict):
            return
        if "error" in chunk and not chunk.get("choices"):
            err = errors.decode(500, {}, json.dumps(chunk).encode())
            self._close(out)
            out.append(ir.StreamError(error=err))
            self._done = True
            return
        if not self._started:
            self._started = True
            self._id = str(chunk.get("id") or "")
            created = chunk.get("created")
            out.append(
                ir.ResponseStart(
                    id=self._id,
                    model=str(chunk.get("model") or ""),
                    created=created if isinstance(created, int) else None,
                )
            )
        if isinstance(chunk.get("usage"), dict):
            self._usage = self._usage.merged(usage_in(chunk["usage"]))
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return  # Azure prompt_filter_results, usage-only chunks (edge 9)
        choice = as_dict(choices[0])
        delta = as_dict(choice.get("delta"))
        self._delta(delta, out)
        if choice.get("finish_reason"):
            self._finish_raw = str(choice["finish_reason"])
            self._finish_seen = True
            self._choice = choice
            self._close(out)

    def _delta(self, delta: dict[str, Any], out: list[ir.Event]) -> None:
        for key in ("reasoning_content", "reasoning"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._reasoning(text, out)
                break
        content = delta.get("content")
        if isinstance(content, str):
            if content:
                self._text(content, out)
        elif isinstance(content, list):  # Mistral reasoning models
            for chunk in content:
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("type") == "thinking":
                    text = "".join(
                        t.get("text", "")
                        for t in chunk.get("thinking") or []
                        if isinstance(t, dict)
                    )
                    if text:
                        self._reasoning(text, out)
                elif chunk.get("type") == "text" and chunk.get("text"):
                    self._text(str(chunk["text"]), out)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, tc in enumerate(calls):
                if isinstance(tc, dict):
                    self._tool(tc, position, out)

    def _open_part(
        self, kind: str, part: ir.Part, out: list[ir.Event], tool_index: int = -1
    ) -> int:
        index = self._next
        self._next += 1
        self._open = (kind, tool_index)
        out.append(ir.PartStart(index=index, part=part))
        return index

    def _close(self, out: list[ir.Event]) -> None:
        if self._open is not None:
            out.append(ir.PartEnd(index=self._next - 1))
            was_tool = self._open[0] == "tool"
            self._open = None
            if was_tool and self._held_reasoning:
                held, self._held_reasoning = "".join(self._held_reasoning), []
                self._reasoning(held, out)

    def _text(self, text: str, out: list[ir.Event]) -> None:
        if self._open is None or self._open[0] != "text":
            self._close(out)
            self._open_part("text", ir.Text(text=""), out)
        out.append(ir.PartDelta(index=self._next - 1, kind="text", text=text))

    def _reasoning(self, text: str, out: list[ir.Event]) -> None:
        if self._open is not None and self._open[0] == "tool":
            self._held_reasoning.append(text)
            return
        if self._open is None or self._open[0] != "reasoning":
            self._close(out)
            self._open_part("reasoning", ir.Reasoning(origin=NAME), out)
        out.append(ir.PartDelta(index=self._next - 1, kind="reasoning", text=text))

    def _tool(self, tc: dict[str, Any], position: int, out: list[ir.Event]) -> None:
        raw_index = tc.get("index")
        wire: int = raw_index if isinstance(raw_index, int) else position
        fn = as_dict(tc.get("function"))
        entry = self._tools.get(wire)
        if entry is None or (
            entry.get("closed") and tc.get("id") and tc.get("id") != entry.get("id")
        ):
            entry = self._tools[wire] = {
                "id": tc.get("id"),
                "name": fn.get("name"),
                "pending": [],
                "started": False,
            }
        else:
            entry["id"] = entry.get("id") or tc.get("id")
            entry["name"] = entry.get("name") or fn.get("name")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args)
        if args:
            entry["pending"].append(args)
        if not entry["started"]:
            if not entry.get("name"):
                return  # wait for the name
            self._close(out)
            call_id = str(entry.get("id") or ids.derived_call_id(self._id, wire))
            self._open_part(
                "tool", ir.ToolCall(id=call_id, name=str(entry["name"]), arguments=""), out, wire
            )
            entry["started"] = True
            self._any_tool = True
        elif self._open != ("tool", wire):
            return  # fragments of a call that is not the open one: the IR cannot interleave
        if entry["pending"]:
            text, entry["pending"] = "".join(entry["pending"]), []
            out.append(ir.PartDelta(index=self._next - 1, kind="arguments", text=text))

    def _finish(self, out: list[ir.Event]) -> None:
        self._close(out)
        if not self._started:
            out.append(ir.ResponseStart(id=self._id, model=""))
            self._started = True
        finish = finish_in(self._finish_raw, self._any_tool, self._choice)
        out.append(ir.StreamFinish(finish=finish, usage=self._usage))
        self._done = True


class ChatStreamEncoder:
    """IR events → ``data: {chat.completion.chunk}`` lines; constant parts built once."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: ir.Request, report: ir.Report) -> None:
        self._include_usage = bool(request.include_usage)
        self._model = request.model
        self._prefix = b""
        self._suffix = b""
        self._started = False
        self._done = False
        self._tool_counter = -1
        self._tool_index: dict[int, int] = {}
        self._any_tool = False
        self._usage = ir.Usage()
        self._reasoning_text: dict[int, list[str]] = {}
        self._reasoning: dict[int, ir.Reasoning] = {}
        self._id = "chatcmpl-crosswire"
        self._created = 0

    def _chunk(self, delta: Any, finish: str | None = None) -> bytes:
        fin = b"null" if finish is None else json.dumps(finish).encode()
        return (
            self._prefix
            + json.dumps(delta, ensure_ascii=False, separators=(",", ":")).encode()
            + b',"logprobs":null,"finish_reason":'
            + fin
            + self._suffix
        )

    def _start(self, rid: str, model: str, created: int | None) -> bytes:
        self._started = True
        self._id = rid if rid.startswith("chatcmpl") else f"chatcmpl-{rid or 'crosswire'}"
        self._created = created or int(time.time())
        self._model = model or self._model
        head = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }
        self._prefix = (
            b"data: "
            + json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode()[:-1]
            + b',"choices":[{"index":0,"delta":'
        )
        self._suffix = b"}]" + (b',"usage":null' if self._include_usage else b"") + b"}\n\n"
        return self._chunk({"role": "assistant", "content": ""})

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.ResponseStart():
                return self._start(event.id, event.model, event.created)
            case ir.PartStart():
                out = b"" if self._started else self._start("", "", None)
                part = event.part
                if isinstance(part, ir.ToolCall):
                    self._tool_counter += 1
                    self._tool_index[event.index] = self._tool_counter
                    self._any_tool = True
                    return out + self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": self._tool_counter,
                                    "id": part.id,
                                    "type": "function",
                                    "function": {"name": part.name, "arguments": part.arguments},
                                }
                            ]
                        }
                    )
                if isinstance(part, ir.Text) and part.text:
                    return out + self._chunk({"content": part.text})
                if isinstance(part, ir.Reasoning):
                    self._reasoning[event.index] = part
                    self._reasoning_text[event.index] = [part.text]
                    if part.text:
                        return out + self._chunk({"reasoning_content": part.text})
                return out
            case ir.PartDelta():
                if event.kind == "text":
                    return self._chunk({"content": event.text})
                if event.kind == "reasoning":
                    self._reasoning_text.setdefault(event.index, []).append(event.text)
                    return self._chunk({"reasoning_content": event.text})
                if event.kind == "arguments":
                    k = self._tool_index.get(event.index, 0)
                    return self._chunk(
                        {"tool_calls": [{"index": k, "function": {"arguments": event.text}}]}
                    )
                if event.kind == "signature" and event.index in self._reasoning:
                    r = self._reasoning[event.index]
                    self._reasoning[event.index] = ir.Reasoning(
                        text=r.text,
                        signature=(r.signature or "") + event.text,
                        redacted=r.redacted,
                        origin=r.origin,
                    )
                return b""
            case ir.PartEnd():
                r = self._reasoning.pop(event.index, None)
                if r is not None and (r.signature or r.redacted is not None):
                    text = "".join(self._reasoning_text.pop(event.index, []))
                    block = (
                        {"type": "redacted_thinking", "data": r.redacted, "provider": r.origin}
                        if r.redacted is not None
                        else {
                            "type": "thinking",
                            "thinking": text,
                            "signature": r.signature,
                            "provider": r.origin,
                        }
                    )
                    return self._chunk({"thinking_blocks": [block]})
                return b""
            case ir.UsageUpdate():
                self._usage = self._usage.merged(event.usage)
                return b""
            case ir.StreamFinish():
                self._done = True
                out = b"" if self._started else self._start("", "", None)
                usage = self._usage.merged(event.usage)
                out += self._chunk({}, finish_out(event.finish, self._any_tool))
                if self._include_usage:
                    head = {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": usage_out(usage),
                    }
                    out += b"data: " + json.dumps(head, separators=(",", ":")).encode() + b"\n\n"
                return out + b"data: [DONE]\n\n"
            case ir.StreamError():
                self._done = True
                return (
                    b"data: "
                    + json.dumps(errors.body(event.error), ensure_ascii=False).encode()
                    + b"\n\n"
                )
        return b""

    def close(self) -> bytes:
        return b""
