"""One package per wire protocol; ``codec(name)`` returns the shared instance.

Each package exposes ``CODEC`` (a ``Codec`` instance) from its ``__init__``.

Numbers cited as "edge N" (or "edge case N") in the codecs and their tests are the cases of
docs/edge-cases.md; docs/codecs.md says how a codec is written.
"""

from __future__ import annotations

import importlib
from functools import cache

from crosswire.protocols.base import PROTOCOLS, Codec, ProtocolName

_MODULES: dict[ProtocolName, str] = {
    "openai-chat": "crosswire.protocols.openai_chat",
    "openai-responses": "crosswire.protocols.openai_responses",
    "anthropic": "crosswire.protocols.anthropic",
    "gemini": "crosswire.protocols.gemini",
    "fim": "crosswire.protocols.fim",
    "openai-completions": "crosswire.protocols.fim",
    "ollama": "crosswire.protocols.ollama",
}


@cache
def codec(name: ProtocolName) -> Codec:
    module = importlib.import_module(_MODULES[name])
    if name == "openai-completions":
        found: Codec = module.COMPLETIONS_CODEC
    else:
        found = module.CODEC
    return found


__all__ = ["PROTOCOLS", "Codec", "ProtocolName", "codec"]
