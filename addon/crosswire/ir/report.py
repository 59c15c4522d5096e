"""What a conversion changed: the "nothing silently lost" ledger of one exchange.

Every codec receives the exchange's ``Report`` and records each field it dropped, renamed,
invented or clamped. The addon shows the notes in the ``x-crosswire-dropped`` response
header, the flow comment and the mitmweb view; ``crosswire convert`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NoteAction = Literal["dropped", "renamed", "invented", "clamped", "moved"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    action: NoteAction
    field: str
    reason: str


@dataclass(slots=True)
class Report:
    notes: list[Note] = field(default_factory=list)

    def _add(self, action: NoteAction, field_name: str, reason: str) -> None:
        note = Note(action=action, field=field_name, reason=reason)
        if note not in self.notes:
            self.notes.append(note)

    def dropped(self, field_name: str, reason: str) -> None:
        """A field the target cannot express was left out."""
        self._add("dropped", field_name, reason)

    def renamed(self, field_name: str, reason: str) -> None:
        self._add("renamed", field_name, reason)

    def invented(self, field_name: str, reason: str) -> None:
        """A value the target requires was supplied (Anthropic ``max_tokens``, tool-call ids)."""
        self._add("invented", field_name, reason)

    def clamped(self, field_name: str, reason: str) -> None:
        self._add("clamped", field_name, reason)

    def moved(self, field_name: str, reason: str) -> None:
        self._add("moved", field_name, reason)

    @property
    def dropped_fields(self) -> list[str]:
        return [n.field for n in self.notes if n.action == "dropped"]

    def header_value(self) -> str:
        """The ``x-crosswire-dropped`` header: dropped field names, comma-separated."""
        return ", ".join(dict.fromkeys(self.dropped_fields))
