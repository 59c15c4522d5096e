"""Gemini ``generateContent`` / ``streamGenerateContent`` (generativelanguage.googleapis.com),
both as the app's protocol and as a backend. See :mod:`.codec` for the wiring."""

from crosswire.protocols.gemini.codec import GeminiCodec

CODEC = GeminiCodec()

__all__ = ["CODEC", "GeminiCodec"]
