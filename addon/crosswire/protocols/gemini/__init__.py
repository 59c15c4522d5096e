"""Gemini ``generateContent`` / ``streamGenerateContent`` (generativelanguage.googleapis.com),
both as the app's protocol and as a backend. See :mod:`.codec` for the wiring.

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.gemini.codec import GeminiCodec

CODEC = GeminiCodec()

__all__ = ["CODEC", "GeminiCodec"]
