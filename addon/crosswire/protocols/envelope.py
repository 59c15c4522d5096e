"""Another provider's opaque reasoning state, carried through a client that can only echo it.

A backend needs its own opaque reasoning state back in tool loops: Anthropic its signed
thinking blocks (edge 61), a Responses backend its ``encrypted_content``, Gemini its thought
signatures. A client can only return what it received, in the one place its wire has for such
state: an Anthropic client the thinking block's ``signature`` (and a ``redacted_thinking``
block's ``data``), a Responses client ``reasoning.encrypted_content`` (sent back verbatim with
``store: false``). So a foreign ``Reasoning``'s signature/redacted data goes out to the client
wrapped in a recognisable envelope, and the client's request decoder unwraps it into a
``Reasoning`` with its original ``origin``. A codec never wraps its own state, and an envelope
never reaches the backend it came from unwrapped (its origin is another codec's).

The format, shared by both codecs so either can read the other's: ``crosswire.reasoning.v1.``
+ URL-safe base64 of ``{"o": origin, "s": signature, "r": redacted}``.
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
