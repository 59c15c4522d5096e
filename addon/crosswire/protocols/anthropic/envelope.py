"""Another provider's opaque reasoning state, carried through an Anthropic client.

A Responses backend needs its ``encrypted_content`` back and Gemini its thought signatures;
an Anthropic client (Claude Code) can only echo what it received. Its wire has one place for
opaque reasoning state that clients return verbatim: the thinking block's ``signature`` (and a
``redacted_thinking`` block's ``data``). So a foreign ``Reasoning``'s signature/redacted data
goes out wrapped in a recognisable envelope, and the request decoder unwraps it into a
``Reasoning`` with its original ``origin``. Anthropic's own signatures are never wrapped, and an
envelope is never sent to Anthropic (its origin is not ``anthropic``).

The format is the one the Responses codec uses (``crosswire.reasoning.v1.`` + URL-safe base64
of ``{"o": origin, "s": signature, "r": redacted}``), so either codec can read the other's.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from crosswire.protocols.common import dumps

PREFIX = "crosswire.reasoning.v1."


@dataclass(frozen=True, slots=True)
class Envelope:
    origin: str
    signature: str | None = None
    redacted: str | None = None


def pack(origin: str, signature: str | None, redacted: str | None) -> str:
    payload: dict[str, str] = {"o": origin}
    if signature:
        payload["s"] = signature
    if redacted is not None:
        payload["r"] = redacted
    return PREFIX + base64.urlsafe_b64encode(dumps(payload)).decode().rstrip("=")


def is_envelope(value: str) -> bool:
    return value.startswith(PREFIX)


def unpack(value: str) -> Envelope | None:
    """The wrapped state, or None when the envelope is damaged (the caller drops it)."""
    raw = value[len(PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("o"), str):
        return None
    signature, redacted = data.get("s"), data.get("r")
    return Envelope(
        origin=data["o"],
        signature=signature if isinstance(signature, str) else None,
        redacted=redacted if isinstance(redacted, str) else None,
    )
