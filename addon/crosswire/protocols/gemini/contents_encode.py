"""IR messages → Gemini ``systemInstruction`` + ``contents`` (the backend direction).

Gemini's turn rules, each from a real failure (docs/edge-cases.md):

* one system slot: leading system/developer messages become ``systemInstruction``; later
  ones become user text wrapped in ``<system-reminder>`` (edge 45);
* roles are ``user``/``model`` and must alternate: consecutive same-role turns are merged,
  function responses first in a merged user turn (edge 47);
* every ``functionResponse`` answering a model turn sits in one user turn, one per call, in
  the calls' order, named by the function (never the id), with ``response`` an object —
  ``{"result": text}`` unless the text is a JSON object, ``{"error": text}`` for errors
  (edges 29, 38–40); images of tool results go in ``functionResponse.parts`` (Gemini 3) or
  follow as parts of the same user turn (older models, edge 41);
* the request must end with a user turn or function response: a trailing assistant
  prefill is dropped with a note (edge 48);
* thoughts of another origin never become visible text (edge 67) — they are dropped; Gemini's
  own thoughts go back with their signature; a model turn whose function calls carry no
  signature at all (history from another provider) gets Google's documented
  ``skip_thought_signature_validator`` on its first call, for Gemini 3 and alias models
  (edge 68);
* synthetic call ids are never sent (edge 29).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from crosswire.ir import (
    File,
    Message,
    Opaque,
    Reasoning,
    Report,
    Request,
    Text,
    ToolCall,
    ToolResult,
    UnsupportedFeature,
)
from crosswire.protocols.gemini.callids import wire_id
from crosswire.protocols.gemini.mapping import model_generation, supports_function_response_parts
from crosswire.protocols.gemini.parts import (
    NAME,
    call_part,
    call_signature,
    file_part,
    gemini_native,
    text_part,
    thought_part,
)
from crosswire.protocols.gemini.rawjson import Raw, object_text

#: Google's documented placeholder for function calls whose signature is unknown.
#: https://ai.google.dev/gemini-api/docs/thought-signatures#faqs
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"

_RESULT_EXTRAS_SKIP: Final = frozenset({"id"})


@dataclass(slots=True)
class _Turn:
    role: str
    results: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    after_results: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        ordered = [p for _, p in sorted(self.results, key=lambda item: item[0])]
        return {"role": self.role, "parts": [*ordered, *self.after_results, *self.parts]}

    def empty(self) -> bool:
        return not (self.results or self.after_results or self.parts)


class ContentsEncoder:
    """One request's messages; holds what later turns need from earlier ones (the calls'
    names and order, for their results)."""

    def __init__(self, request: Request, model: str, report: Report) -> None:
        self.request = request
        self.model = model
        self.report = report
        self.turns: list[_Turn] = []
        self.calls: dict[str, tuple[str, int]] = {}  # call id → (name, order in the request)
        self.media_in_results = supports_function_response_parts(model)
        gen = model_generation(model)
        self.placeholder_signatures = gen is None or gen >= 3

    def encode(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(systemInstruction parts, contents)."""
        messages = self.request.messages
        system: list[dict[str, Any]] = []
        start = 0
        while start < len(messages) and messages[start].role in ("system", "developer"):
            system.extend(self._instruction_parts(messages[start]))
            start += 1
        for message in messages[start:]:
            match message.role:
                case "system" | "developer":
                    self._later_instruction(message)
                case "user":
                    self._user(message)
                case "assistant":
                    self._model(message)
                case "tool":
                    self._results(message.parts)
        contents = self._alternating()
        while contents and contents[-1]["role"] == "model":
            contents.pop()
            self.report.dropped(
                "trailing assistant message",
                "Gemini needs the request to end with a user turn or function response "
                "(no prefill)",
            )
        if not contents:
            if not system:
                raise UnsupportedFeature(
                    "Gemini needs at least one user turn; the request has none"
                )
            contents = [{"role": "user", "parts": system}]
            system = []
            self.report.moved(
                "system", "Gemini needs a user turn; the instructions were sent as one"
            )
        return system, contents

    # ---- turns --------------------------------------------------------------------------

    def _alternating(self) -> list[dict[str, Any]]:
        """The turns as wire contents; a turn left empty (everything in it dropped) is
        skipped and its neighbours merged if that makes two of a role meet (edge 47)."""
        contents: list[dict[str, Any]] = []
        for turn in self.turns:
            if turn.empty():
                continue
            wire = turn.wire()
            if contents and contents[-1]["role"] == wire["role"]:
                contents[-1]["parts"].extend(wire["parts"])
            else:
                contents.append(wire)
        return contents

    def _turn(self, role: str) -> _Turn:
        if self.turns and self.turns[-1].role == role:
            return self.turns[-1]
        turn = _Turn(role)
        self.turns.append(turn)
        return turn

    def _instruction_parts(self, message: Message) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, Text):
                parts.append({"text": part.text})
            else:
                self.report.dropped(
                    f"{message.role} {part.type}", "Gemini instructions hold text only"
                )
        return parts

    def _later_instruction(self, message: Message) -> None:
        text = "\n".join(p.text for p in message.parts if isinstance(p, Text))
        if not text:
            return
        self.report.moved(
            f"{message.role} message",
            "Gemini has one systemInstruction; later instructions sent as user text in "
            "<system-reminder>",
        )
        self._turn("user").parts.append({"text": f"<system-reminder>\n{text}\n</system-reminder>"})

    def _user(self, message: Message) -> None:
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        if results:
            self._results(tuple(results))
        turn = self._turn("user")
        for part in message.parts:
            if isinstance(part, Text):
                turn.parts.append(text_part(part))
            elif isinstance(part, File):
                turn.parts.append(file_part(part, upstream=True))
            elif isinstance(part, Opaque) and part.origin == NAME:
                turn.parts.append(dict(part.data))
            elif not isinstance(part, ToolResult):
                self.report.dropped(f"user {part.type}", "no Gemini equivalent in a user turn")

    def _model(self, message: Message) -> None:
        parts: list[dict[str, Any]] = []
        first_call: dict[str, Any] | None = None
        signed = False
        for part in message.parts:
            if isinstance(part, Text):
                if part.text or gemini_native(part.native):
                    parts.append(text_part(part))
            elif isinstance(part, Reasoning):
                if part.origin == NAME:
                    if part.text or part.signature:
                        parts.append(thought_part(part, signed=True))
                else:
                    self.report.dropped(
                        "reasoning",
                        f"thoughts from {part.origin or 'another model'} are never sent to Gemini "
                        "as visible text",
                    )
            elif isinstance(part, ToolCall):
                signature = call_signature(part)
                signed = signed or signature is not None
                wire = call_part(part, self.report)
                self.calls[part.id] = (part.name, len(self.calls))
                if first_call is None:
                    first_call = wire
                parts.append(wire)
            elif isinstance(part, File):
                parts.append(file_part(part, upstream=True))
            elif isinstance(part, Opaque) and part.origin == NAME:
                parts.append(dict(part.data))
            else:
                self.report.dropped(
                    f"assistant {part.type}", "no Gemini equivalent in a model turn"
                )
        if first_call is not None and not signed and self.placeholder_signatures:
            first_call["thoughtSignature"] = SKIP_SIGNATURE
            self.report.invented(
                "thoughtSignature",
                "function calls from another provider carry none; Gemini 3 requires one on the "
                "first call of a step",
            )
        self._turn("model").parts.extend(parts)

    def _results(self, parts: tuple[Any, ...]) -> None:
        turn = self._turn("user")
        for part in parts:
            if not isinstance(part, ToolResult):
                continue
            known = self.calls.get(part.call_id)
            name = part.name or (known[0] if known else None)
            if not name:
                raise UnsupportedFeature(
                    f"the tool result for call {part.call_id!r} has no function name and no "
                    "matching call in the history; Gemini pairs results by name",
                    param="functionResponse.name",
                )
            order = known[1] if known else len(self.calls) + len(turn.results)
            response, media = self._response(part)
            extras = gemini_native(part.native)
            fr: dict[str, Any] = {k: v for k, v in extras.items() if k not in _RESULT_EXTRAS_SKIP}
            fr["name"] = name
            client_id = extras.get("id")
            call_id = client_id if isinstance(client_id, str) else wire_id(part.call_id)
            if call_id is not None:
                fr["id"] = call_id
            fr["response"] = response
            if media and self.media_in_results:
                fr["parts"] = media
            elif media:
                turn.after_results.extend(media)
                self.report.moved(
                    "tool result files",
                    f"{self.model} has no multimodal function responses; sent as parts of the "
                    "same user turn",
                )
            turn.results.append((order, {"functionResponse": fr}))

    def _response(self, result: ToolResult) -> tuple[Any, list[dict[str, Any]]]:
        texts = [c.text for c in result.content if isinstance(c, Text)]
        media = [file_part(c, upstream=True) for c in result.content if isinstance(c, File)]
        text = "\n".join(texts)
        if result.is_error:
            return {"error": text}, media
        raw = object_text(text) if text.strip() else None
        if raw is not None:
            return Raw(raw), media
        return {"result": text}, media
