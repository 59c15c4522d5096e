"""IR messages → Anthropic ``system`` + ``messages``.

The Messages API has one ``system`` slot and strict turn rules, so the IR's ordered messages are
regrouped (docs/codecs.md; edges 36, 42, 44–50 of docs/edge-cases.md):

* the leading system/developer messages fill ``system``: a string, or text blocks when any block
  carries Anthropic fields such as ``cache_control``; a later one becomes user text wrapped in
  ``<system-reminder>`` (noted ``moved``). System turns an Anthropic app put inside ``messages``
  go back there.
* tool messages and the user text after them form one user turn, ``tool_result`` blocks first;
  consecutive same-role turns are merged; turns left without content are not sent.
* orphans are removed, cascading: a ``tool_use`` whose result is not in the next user turn, and a
  ``tool_result`` whose call is not in the previous assistant turn (each noted ``dropped``).
* the conversation must start with a user turn: a minimal one is inserted when it does not
  (noted ``invented``); a final assistant turn (a prefill) loses trailing whitespace.
* under anthropic-version 2026-10-21 (``strict``), documents leave assistant turns and
  citations leave user text (see ``version``).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols.anthropic import content_encode, version
from crosswire.protocols.anthropic.content_decode import IN_MESSAGES
from crosswire.protocols.anthropic.mapping import FIRST_USER_TEXT, NAME

Turn = dict[str, Any]
System = str | list[dict[str, Any]] | None


def encode_messages(
    request: ir.Request, report: ir.Report, *, strict: bool = True
) -> tuple[System, list[Turn]]:
    system_blocks: list[dict[str, Any]] = []
    turns: list[Turn] = []
    leading = True
    for message in request.messages:
        extra = dict(message.native.get(NAME) or {})
        if message.role in ("system", "developer"):
            blocks = _instruction_blocks(message, report)
            if extra.pop(IN_MESSAGES, False):
                if blocks:
                    turns.append({**extra, "role": "system", "content": _compact(blocks)})
            elif leading:
                system_blocks += blocks
            elif blocks:
                joined = "\n\n".join(b["text"] for b in blocks)
                reminder = f"<system-reminder>\n{joined}\n</system-reminder>"
                _add(turns, "user", [{"type": "text", "text": reminder}], {})
                report.moved(
                    f"{message.role} message",
                    "a later instruction was sent as <system-reminder> user text "
                    "(Anthropic has one system slot)",
                )
            continue
        leading = False
        role = "assistant" if message.role == "assistant" else "user"
        blocks = []
        for p in message.parts:
            block = content_encode.block_for(p, report)
            if block is not None:
                blocks.append(block)
        _add(turns, role, blocks, extra)
    if strict:
        if version.move_assistant_documents(turns, report):
            turns = _regroup(turns)
        version.strip_user_citations(turns, report)
    for _ in range(len(turns) + 1):  # each pass can orphan more (cascade); bounded
        if not _drop_orphans(turns, report):
            break
        turns = _regroup(turns)
    _first_user(turns, report)
    _trim_prefill(turns, report)
    return _system(system_blocks), turns


def _instruction_blocks(message: ir.Message, report: ir.Report) -> list[dict[str, Any]]:
    blocks = []
    for p in message.parts:
        if isinstance(p, ir.Text):
            block = content_encode.text(p)
            if block is not None:
                blocks.append(block)
        else:
            report.dropped(
                f"{message.role} message {p.type}", "Anthropic instructions are text only"
            )
    return blocks


def _compact(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Plain text blocks joined into a string; blocks kept when any has more than text."""
    if all(b.keys() == {"type", "text"} for b in blocks):
        return "\n\n".join(b["text"] for b in blocks)
    return blocks


def _system(blocks: list[dict[str, Any]]) -> System:
    return _compact(blocks) if blocks else None


def _add(turns: list[Turn], role: str, blocks: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """Append, merging into the previous turn of the same role (edge 47); in a user turn the
    ``tool_result`` blocks go first (edge 36)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        merged = turns[-1]["content"] + blocks
        turns[-1]["content"] = _results_first(merged) if role == "user" else merged
        return
    turns.append(
        {
            **extra,
            "role": role,
            "content": _results_first(blocks) if role == "user" else list(blocks),
        }
    )


def _results_first(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = [b for b in blocks if b.get("type") == "tool_result"]
    if not results or len(results) == len(blocks):
        return list(blocks)
    return results + [b for b in blocks if b.get("type") != "tool_result"]


def _ids(turn: Turn | None, block_type: str, key: str) -> set[str]:
    if turn is None:
        return set()
    return {
        b[key]
        for b in turn["content"]
        if b.get("type") == block_type and isinstance(b.get(key), str)
    }


def _drop_orphans(turns: list[Turn], report: ir.Report) -> bool:
    """Remove calls without results and results without calls (edge 42); True if any went."""
    changed = False
    for i, turn in enumerate(turns):
        if turn["role"] == "assistant":
            after = _neighbour(turns, i, 1)
            if after is None:  # the final turn: a prefill, left as the app sent it
                continue
            answered = _ids(
                after if after["role"] == "user" else None, "tool_result", "tool_use_id"
            )
            kept = [
                b for b in turn["content"] if b.get("type") != "tool_use" or b.get("id") in answered
            ]
            if len(kept) != len(turn["content"]):
                report.dropped("tool_use", "a tool call without a result in the next user turn")
                turn["content"], changed = kept, True
        elif turn["role"] == "user":
            before = _neighbour(turns, i, -1)
            before = before if before is not None and before["role"] == "assistant" else None
            called = _ids(before, "tool_use", "id")
            kept = [
                b
                for b in turn["content"]
                if b.get("type") != "tool_result" or b.get("tool_use_id") in called
            ]
            if len(kept) != len(turn["content"]):
                report.dropped("tool_result", "a tool result without its call in the turn before")
                turn["content"], changed = kept, True
    return changed


def _neighbour(turns: list[Turn], i: int, step: int) -> Turn | None:
    """The nearest user/assistant turn before (-1) or after (+1) ``i``: system turns an
    Anthropic app placed in ``messages`` sit between them without breaking the pairing."""
    j = i + step
    while 0 <= j < len(turns):
        if turns[j]["role"] != "system":
            return turns[j]
        j += step
    return None


def _regroup(turns: list[Turn]) -> list[Turn]:
    """Drop emptied turns and merge the neighbours that now touch."""
    out: list[Turn] = []
    for turn in turns:
        if not turn["content"]:
            continue
        if out and out[-1]["role"] == turn["role"] and turn["role"] != "system":
            _add(out, turn["role"], turn["content"], {})
        else:
            out.append(turn)
    return out


def _first_user(turns: list[Turn], report: ir.Report) -> None:
    """Anthropic requires the conversation to start with a user turn (edge 48)."""
    first = next((i for i, t in enumerate(turns) if t["role"] != "system"), None)
    if first is not None and turns[first]["role"] == "user":
        return
    placeholder = {"role": "user", "content": [{"type": "text", "text": FIRST_USER_TEXT}]}
    turns.insert(len(turns) if first is None else first, placeholder)
    report.invented(
        "first user message",
        f"a {FIRST_USER_TEXT!r} user turn: Anthropic requires the conversation to start with one",
    )


def _trim_prefill(turns: list[Turn], report: ir.Report) -> None:
    """A final assistant turn is a prefill; Anthropic refuses one that ends in whitespace."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    content = turns[-1]["content"]
    last = content[-1]
    if last.get("type") != "text" or not isinstance(last.get("text"), str):
        return
    stripped = last["text"].rstrip()
    if stripped == last["text"]:
        return
    content[-1] = {**last, "text": stripped}
    report.clamped("prefill", "trailing whitespace removed from the final assistant text")
