"""Helpers shared by the whole-answer and the stream decoders (ids, timestamps).

They live apart from :mod:`response` so that :mod:`response` can use the stream decoder (for
a stream delivered whole) without the stream decoder importing :mod:`response` back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from crosswire.protocols.gemini.callids import synthetic_call_id


def derived_response_id(seed: bytes) -> str:
    """An id for an answer without ``responseId`` (older models, Vertex proxies)."""
    return "gemini-" + hashlib.sha256(seed).hexdigest()[:24]


def parse_time(value: Any) -> int | None:
    """Vertex's ``createTime`` (RFC 3339) as a Unix timestamp."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def call_id_maker(response_id: str) -> Any:
    """Ids for id-less function calls of one answer: the response id + the call's position,
    the same in whole and streamed decoding."""
    counter = [0]

    def make_id(name: str, arguments: str) -> str:
        position = counter[0]
        counter[0] += 1
        return synthetic_call_id(response_id, position)

    return make_id
