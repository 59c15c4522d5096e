"""Function-call ids that Gemini did not issue.

Gemini 2.x sends function calls without ``id``; Gemini 3 sends one and expects it back in
``functionResponse.id`` (edge case 29). The IR always needs an id, so decoders derive one —
in a recognisable form, so that both Gemini encoders can tell it was never Gemini's and leave
it out instead of sending Gemini an id it did not issue.
"""

from __future__ import annotations

import re
from typing import Final

from crosswire.ir.ids import derived_call_id

#: ``gemini_call_`` + 24 hex digits: 36 characters, within OpenAI's 40 and Anthropic's
#: ``^[A-Za-z0-9_-]+$``; Gemini's own ids are short alphanumerics without underscores.
SYNTHETIC_PREFIX: Final = "gemini_call_"
_SYNTHETIC = re.compile(r"^gemini_call_[0-9a-f]{24}$")


def synthetic_call_id(seed: str, position: int) -> str:
    """Stable for the same seed and position (same response id, same history)."""
    return derived_call_id(seed, position, prefix=SYNTHETIC_PREFIX)


def is_synthetic(call_id: str | None) -> bool:
    return call_id is not None and _SYNTHETIC.match(call_id) is not None


def wire_id(call_id: str | None) -> str | None:
    """The id to put on the wire: None (leave it out) for a synthetic or empty one."""
    if not call_id or is_synthetic(call_id):
        return None
    return call_id
