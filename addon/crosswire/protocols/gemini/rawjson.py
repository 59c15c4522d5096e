"""JSON output that embeds already-serialised JSON text verbatim.

Why: ``ToolCall.arguments`` is the model's raw JSON text and must not be re-parsed and
re-dumped on the way through (key order, number spelling), yet Gemini wants ``args`` (and
``functionResponse.response``) as objects inside the body. :class:`Raw` marks such text;
:func:`dumps` serialises the rest with the C encoder and splices the raw texts in with one
regular-expression pass. The placeholder carries a per-call random nonce, so no string in the
data can be mistaken for one.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any


class Raw:
    """Valid JSON text to embed as is (the caller has checked it parses)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value`` with every :class:`Raw` spliced in verbatim."""
    raws: list[str] = []
    nonce = secrets.token_hex(6)

    def default(obj: object) -> str:
        if isinstance(obj, Raw):
            raws.append(obj.text)
            return f"\x00{nonce}{len(raws) - 1}\x00"
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    if raws:
        pattern = re.compile(r'"\\u0000' + nonce + r'(\d+)\\u0000"')
        text = pattern.sub(lambda m: raws[int(m.group(1))], text)
    return text.encode()


def object_text(text: str) -> str | None:
    """``text`` when it is a JSON object (to embed raw), else None. Blank means ``{}``."""
    stripped = text.strip()
    if not stripped:
        return "{}"
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return stripped if isinstance(value, dict) else None
