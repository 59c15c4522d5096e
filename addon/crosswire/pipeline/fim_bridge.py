"""Fill-in-the-middle over a chat model: a documented prompt in, only the middle out.

A FIM prompt (prefix + suffix) to a backend that cannot take one (``Codec.fim_native`` is
false: every chat protocol) becomes a chat request. A chat model is asked to write exactly the code that belongs in a hole, and its answer is
cleaned: markdown fences, a repeated tail of the prefix at its start and a repeated head of
the suffix at its end are removed. For streams the cleaner holds back only what may still turn
out to be a fence or a suffix overlap and releases the rest as it arrives.
"""

from __future__ import annotations

import dataclasses
import re

from crosswire import ir
from crosswire.pipeline.step import EventFilter, Step

HOLE = "<FILL_HERE>"
SYSTEM = (
    "You complete code. The user shows a file with one hole marked "
    + HOLE
    + ". Answer with exactly "
    "the text that replaces the hole — no explanations, no markdown fences, and do not repeat the code "
    "before or after the hole."
)
_FENCE_START = re.compile(r"^\s*```[\w+-]*[ \t]*\n")
_FENCE_END = re.compile(r"\n?```\s*$")
_HOLD = 64  # characters held back at the end of a stream for fence/suffix cleaning


class FimBridge(Step):
    prompt: ir.FimPrompt | None = None  # the app's prompt, once bridged

    def up(self, request: ir.Request) -> ir.Request:
        if request.fim is None or self.context.backend.fim_native:
            return request
        self.prompt = request.fim
        return fim_to_chat(request, self.context.report)

    def down(self, response: ir.Response) -> ir.Response:
        return response if self.prompt is None else clean_response(response, self.prompt)

    def stream(self) -> EventFilter | None:
        return None if self.prompt is None else FimAnswerCleaner(self.prompt).feed


def fim_to_chat(request: ir.Request, report: ir.Report) -> ir.Request:
    assert request.fim is not None
    prefix, suffix = request.fim.prefix, request.fim.suffix or ""
    user = f"{prefix}{HOLE}{suffix}"
    report.moved(
        "prompt/suffix",
        "sent to a chat model as a fill-in-the-middle instruction; the answer is "
        "cleaned to the middle only",
    )
    return dataclasses.replace(
        request,
        fim=None,
        messages=(
            ir.Message(role="system", parts=(ir.Text(text=SYSTEM),)),
            ir.Message(role="user", parts=(ir.Text(text=user),)),
        ),
    )


def clean_middle(text: str, prefix: str, suffix: str | None) -> str:
    text = _FENCE_START.sub("", text, count=1)
    text = _without_prefix_tail(_FENCE_END.sub("", text), prefix)
    if suffix:
        head = suffix[:200]
        for n in range(min(len(head), len(text)), 8, -1):
            if text.endswith(head[:n]):
                text = text[:-n]
                break
    return text


def clean_response(response: ir.Response, fim: ir.FimPrompt) -> ir.Response:
    text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
    cleaned = clean_middle(text, fim.prefix, fim.suffix)
    return dataclasses.replace(response, parts=(ir.Text(text=cleaned),) if cleaned else ())


class FimAnswerCleaner:
    """An event filter: text parts pass through cleaned; everything but text is dropped (a FIM
    app has no place for reasoning or tool calls)."""

    def __init__(self, fim: ir.FimPrompt) -> None:
        self._fim = fim
        self._buffer = ""
        self._emitted = False
        self._open = False
        self._started_text = False

    def feed(self, event: ir.Event) -> list[ir.Event]:
        match event:
            case ir.PartStart():
                if isinstance(event.part, ir.Text):
                    self._open = True
                    if not self._started_text:
                        self._started_text = True
                        return [ir.PartStart(index=0, part=ir.Text(text=""))]
                return []
            case ir.PartDelta():
                if event.kind != "text" or not self._open:
                    return []
                self._buffer += event.text
                return self._release(final=False)
            case ir.PartEnd():
                self._open = False
                return []
            case ir.StreamFinish() | ir.StreamError():
                out = self._release(final=True)
                if self._started_text:
                    out.append(ir.PartEnd(index=0))
                return [*out, event]
        return [event]

    def _release(self, *, final: bool) -> list[ir.Event]:
        prefix, suffix = self._fim.prefix, self._fim.suffix
        if not self._emitted:
            # Wait for enough text to recognise a leading fence or a repeated prefix tail.
            if not final and len(self._buffer) < _HOLD:
                return []
            cleaned_head = (
                clean_middle(self._buffer, prefix, None)
                if final
                else _clean_head(self._buffer, prefix)
            )
            self._buffer = cleaned_head
            self._emitted = True
        if final:
            text = clean_middle(self._buffer, "", suffix)
            self._buffer = ""
        else:
            if len(self._buffer) <= _HOLD:
                return []
            text, self._buffer = self._buffer[:-_HOLD], self._buffer[-_HOLD:]
        return [ir.PartDelta(index=0, kind="text", text=text)] if text else []


def _clean_head(text: str, prefix: str) -> str:
    return _without_prefix_tail(_FENCE_START.sub("", text, count=1), prefix)


def _without_prefix_tail(text: str, prefix: str) -> str:
    """``text`` without a repeat of the prefix's end at its start (models often echo it)."""
    tail = prefix[-200:]
    for n in range(min(len(tail), len(text)), 8, -1):
        if text.startswith(tail[-n:]):
            return text[n:]
    return text
