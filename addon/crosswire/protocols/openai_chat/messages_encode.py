"""IR messages → Chat Completions ``messages`` for one dialect.

The rules (docs/codecs.md; edges 37–51, 66 of docs/edge-cases.md):

* system/developer messages stay where they stand; ``developer`` becomes ``system`` for
  servers that do not know it (edge 46).
* one ``role:"tool"`` message per ``ToolResult``, right after the assistant's calls (edge 37);
  ``is_error`` becomes an ``Error: `` prefix, never an extra key (edge 40); files a tool
  returned (screenshots, PDFs) go into the next user message, since tool messages take text
  only (edge 41).
* an assistant message with calls and no text has ``content: null`` (edge 49); empty text is
  never replaced by a space.
* tool-call ids are rewritten deterministically, identically in calls and results: Mistral
  wants 9 alphanumerics (edge 28), OpenAI at most 40 characters.
* reasoning goes where the dialect has a place for it (see ``Dialect.reasoning_carrier``);
  signatures never leave their origin (edge 61, 66).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.protocols.openai_chat import content, reasoning
from crosswire.protocols.openai_chat.dialects import Dialect
from crosswire.protocols.openai_chat.mapping import NAME

#: What Mistral gets between a tool result and a user turn (edge 43).
MISTRAL_PLACEHOLDER = "Understood."


def call_id_mapper(dialect: Dialect) -> Callable[[str], str]:
    """The id rewrite for this dialect; the same function serves calls and results."""
    if dialect.alnum_ids:
        return ids.alnum_id
    limit = dialect.max_id_length

    def rewrite(value: str) -> str:
        safe = ids.safe_id(value)
        if limit is not None and len(safe) > limit:
            return ids.derived_call_id(value, 0)
        return safe

    return rewrite


class MessageEncoder:
    def __init__(self, dialect: Dialect, report: ir.Report) -> None:
        self._dialect = dialect
        self._report = report
        self._call_id = call_id_mapper(dialect)
        self._pending_files: list[ir.Part] = []

    def encode(self, messages: tuple[ir.Message, ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for message in messages:
            if message.role != "tool" and self._pending_files:
                if message.role == "user":
                    message = ir.Message(
                        role="user",
                        parts=(*self._pending_files, *message.parts),
                        name=message.name,
                        native=message.native,
                    )
                    self._pending_files = []
                else:
                    out.append(self._files_message())
            match message.role:
                case "system" | "developer":
                    out.append(self._instruction(message))
                case "user":
                    out.append(self._user(message))
                case "assistant":
                    out.append(self._assistant(message))
                case "tool":
                    out.extend(self._tool_results(message))
        if self._pending_files:
            out.append(self._files_message())
        if self._dialect.assistant_between_tool_and_user:
            out = self._bridge_tool_to_user(out)
        return out

    # ---- roles ---------------------------------------------------------------------------------

    def _instruction(self, message: ir.Message) -> dict[str, Any]:
        role = message.role
        if role == "developer" and not self._dialect.keeps_developer_role:
            role = "system"
            self._report.renamed("developer", f"{self._dialect.name} has no developer role")
        texts = [p for p in message.parts if isinstance(p, ir.Text)]
        if len(texts) != len(message.parts):
            self._report.dropped(f"{message.role} content", "instructions carry text only")
        body: str | list[dict[str, Any]]
        if self._dialect.system_arrays and (
            len(texts) > 1 or any(t.native.get(NAME) for t in texts)
        ):
            body = [{**(t.native.get(NAME) or {}), "type": "text", "text": t.text} for t in texts]
        else:
            body = "\n".join(t.text for t in texts)
        return self._with_name({"role": role, "content": body}, message)

    def _user(self, message: ir.Message) -> dict[str, Any]:
        body = content.encode(message.parts, self._dialect, self._report)
        return self._with_name({"role": "user", "content": body}, message)

    def _assistant(self, message: ir.Message) -> dict[str, Any]:
        entry: dict[str, Any] = {"role": "assistant"}
        texts: list[str] = []
        refusals: list[str] = []
        items: list[dict[str, Any]] = []  # Mistral thinking chunks, own opaque parts
        calls: list[dict[str, Any]] = []
        thoughts: list[str] = []
        for part in message.parts:
            match part:
                case ir.Text():
                    if (part.native.get(NAME) or {}).get("refusal"):
                        refusals.append(part.text)
                    else:
                        texts.append(part.text)
                case ir.ToolCall():
                    calls.append(self._call(part))
                case ir.Reasoning():
                    thought = self._reasoning(part)
                    if thought is not None:
                        if self._dialect.reasoning_carrier == "thinking_chunks":
                            items.append(reasoning.thinking_chunk(thought))
                        else:
                            thoughts.append(thought)
                case ir.Opaque() if part.origin == NAME:
                    items.append(dict(part.data))
                case _:
                    label = (
                        part.data.get("type", "block") if isinstance(part, ir.Opaque) else part.type
                    )
                    self._report.dropped(
                        f"assistant {label}", "Chat Completions assistant messages hold text only"
                    )
        if refusals and not self._dialect.refusal_field:
            texts += refusals
            refusals = []
        text = "\n".join(texts) if len(texts) > 1 else (texts[0] if texts else "")
        if items:
            entry["content"] = [*items, *([{"type": "text", "text": text}] if text else [])]
        elif self._dialect.system_arrays and len(texts) > 1:
            entry["content"] = [{"type": "text", "text": t} for t in texts]
        else:
            entry["content"] = text if text or not calls else None  # edge 49
        if refusals:
            entry["refusal"] = "\n".join(refusals)
        if thoughts:
            entry["reasoning_content"] = "".join(thoughts)
        if calls:
            entry["tool_calls"] = calls
        return self._with_name(entry, message)

    def _call(self, call: ir.ToolCall) -> dict[str, Any]:
        native = dict(call.native.get(NAME) or {})
        call_id = self._call_id(call.id)
        if native.pop("type", None) == "custom":
            return {
                "id": call_id,
                "type": "custom",
                "custom": {"name": call.name, "input": call.arguments},
            }
        return {
            **native,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments or "{}"},
        }

    def _reasoning(self, part: ir.Reasoning) -> str | None:
        """The text to replay for one reasoning part, or None (with a note) when the dialect
        has no place for it."""
        carrier = self._dialect.reasoning_carrier
        mine = reasoning.own(part)
        if reasoning.needs_carrier(part) and not mine:
            self._report.dropped(
                "reasoning signature", f"only {part.origin} can verify its signed reasoning"
            )
        if carrier == "none":
            if part.text or part.redacted is not None:
                self._report.dropped(
                    "reasoning", f"{self._dialect.name} takes no reasoning in the history"
                )
            return None
        if not mine and not self._dialect.foreign_reasoning_text:
            if part.text:
                self._report.dropped(
                    "reasoning", f"{part.origin} reasoning cannot be replayed to {NAME}"
                )
            return None
        return part.text or None

    def _tool_results(self, message: ir.Message) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in message.parts:
            if not isinstance(part, ir.ToolResult):
                self._report.dropped(f"tool {part.type}", "tool messages hold results only")
                continue
            text = "\n".join(c.text for c in part.content if isinstance(c, ir.Text))
            files = [c for c in part.content if isinstance(c, ir.File)]
            if files:
                self._pending_files += files
                self._report.moved(
                    "tool_result files", "sent in a user message after the tool results (edge 41)"
                )
                if not text:
                    text = f"(the tool returned {len(files)} file(s), attached in the next message)"
            if part.is_error:
                text = f"Error: {text}" if text else "Error"  # edge 40
            entry: dict[str, Any] = {
                "role": "tool",
                "tool_call_id": self._call_id(part.call_id),
                "content": text,
            }
            if self._dialect.name == "mistral" and part.name:
                entry["name"] = part.name
            out.append(entry)
        return out

    # ---- helpers --------------------------------------------------------------------------------

    def _files_message(self) -> dict[str, Any]:
        files, self._pending_files = self._pending_files, []
        return {"role": "user", "content": content.encode(files, self._dialect, self._report)}

    def _with_name(self, entry: dict[str, Any], message: ir.Message) -> dict[str, Any]:
        if message.name:
            if self._dialect.message_names:
                entry["name"] = message.name
            else:
                self._report.dropped("name", f"{self._dialect.name} rejects names on messages")
        native = message.native.get(NAME)
        if not native:
            return entry
        allowed = self._dialect.message_extras
        if allowed is not None:
            for key in native.keys() - allowed:
                self._report.dropped(f"messages[].{key}", f"{self._dialect.name} rejects it")
            native = {k: v for k, v in native.items() if k in allowed}
        return {**native, **entry}

    def _bridge_tool_to_user(self, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        bridged: list[dict[str, Any]] = []
        for entry in out:
            if entry["role"] == "user" and bridged and bridged[-1]["role"] == "tool":
                bridged.append({"role": "assistant", "content": MISTRAL_PLACEHOLDER})
                self._report.invented(
                    "assistant message", "Mistral refuses a user turn right after tool results"
                )
            bridged.append(entry)
        return bridged
