"""What each ``anthropic-version`` accepts in a request (docs/anthropic-version.md).

Versions: https://platform.claude.com/docs/en/api/versioning
Migration to 2026-10-21: https://platform.claude.com/docs/en/api/migration-2026-10-21

crosswire speaks ``ANTHROPIC_VERSION`` (2026-10-21) to Anthropic backends unless a backend pins
an older one. Under 2026-10-21 the Messages API refuses, with a 400:

* ``temperature``, ``top_p`` and ``top_k`` at any value, defaults included (the encoder leaves
  them out and names each one the app set);
* a ``document`` block placed directly in an assistant message (documents nested in other
  blocks, such as a web-fetch result, are still accepted): moved into the user turn before it;
* a text block with a non-empty ``citations`` list in a user message, also inside
  ``search_result`` blocks (and so inside tool results): the citations are left out. Citations
  on assistant text and ``citations: {enabled: true}`` on documents stay allowed.

Pinned older versions (``2023-06-01``) keep the earlier behaviour: sampling forwarded, clamped.
Version strings are dates, so they compare as text; anything that is not a date before
2026-10-21 (a later version, a label) gets the newest rules.
"""

from __future__ import annotations

import re
from typing import Any

from crosswire import ir
from crosswire.protocols.anthropic.mapping import ANTHROPIC_VERSION, LEGACY_VERSION

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Turn = dict[str, Any]


def resolve(pinned: str | None) -> str:
    """The version to send: the backend's pin, else the current one."""
    return pinned.strip() if pinned and pinned.strip() else ANTHROPIC_VERSION


def strict(version: str) -> bool:
    """True when the 2026-10-21 request rules apply to ``version``."""
    return not (_DATE.match(version) and version < ANTHROPIC_VERSION)


def sampling_reason(version: str) -> str:
    return (
        f"anthropic-version {version} refuses it at any value; pin the backend's "
        f"anthropic_version to {LEGACY_VERSION} to send it"
    )


# ---- documents in assistant turns -----------------------------------------------------------


def move_assistant_documents(turns: list[Turn], report: ir.Report) -> bool:
    """Top-level ``document`` blocks of assistant turns go to the end of the user turn before
    (one is inserted when there is none); True when anything moved (the caller regroups)."""
    moved = False
    i = 0
    while i < len(turns):
        turn = turns[i]
        if turn["role"] != "assistant":
            i += 1
            continue
        docs = [b for b in turn["content"] if b.get("type") == "document"]
        if not docs:
            i += 1
            continue
        turn["content"] = [b for b in turn["content"] if b.get("type") != "document"]
        moved = True
        before = _previous_user(turns, i)
        if before is None:
            turns.insert(i, {"role": "user", "content": docs})
            i += 1
        else:
            before["content"] = before["content"] + docs
        i += 1
    if moved:
        report.moved(
            "document",
            "documents in an assistant turn were sent in the user turn before it "
            f"(anthropic-version {ANTHROPIC_VERSION} refuses them in assistant messages)",
        )
    return moved


def _previous_user(turns: list[Turn], i: int) -> Turn | None:
    """The turn right before ``i`` (system turns skipped) when it is a user turn."""
    for j in range(i - 1, -1, -1):
        if turns[j]["role"] == "system":
            continue
        return turns[j] if turns[j]["role"] == "user" else None
    return None


# ---- citations in user turns -----------------------------------------------------------------


def strip_user_citations(turns: list[Turn], report: ir.Report) -> None:
    """Non-empty ``citations`` lists leave the text blocks of user turns, wherever they sit."""
    found = False
    for turn in turns:
        if turn["role"] != "user" or not isinstance(turn["content"], list):
            continue
        cleaned = [_without_citations(b) for b in turn["content"]]
        if any(new is not old for new, old in zip(cleaned, turn["content"], strict=True)):
            turn["content"] = cleaned
            found = True
    if found:
        report.dropped(
            "citations",
            f"anthropic-version {ANTHROPIC_VERSION} refuses citations on text in user messages",
        )


def _without_citations(block: Any) -> Any:
    """The block without citations on its text (a new object only when something changed; the
    IR's own dicts are never modified)."""
    if not isinstance(block, dict):
        return block
    kind = block.get("type")
    if kind == "text":
        citations = block.get("citations")
        if isinstance(citations, list) and citations:
            return {k: v for k, v in block.items() if k != "citations"}
        return block
    if kind in ("tool_result", "search_result") and isinstance(block.get("content"), list):
        content = block["content"]
        cleaned = [_without_citations(b) for b in content]
        if any(new is not old for new, old in zip(cleaned, content, strict=True)):
            return {**block, "content": cleaned}
    return block
