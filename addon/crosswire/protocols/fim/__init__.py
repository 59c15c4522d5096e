"""Codestral FIM (``CODEC``) and OpenAI-style completions with suffix (``COMPLETIONS_CODEC``)."""

from crosswire.protocols.fim.codec import CompletionsCodec, FimCodec

CODEC = FimCodec()
COMPLETIONS_CODEC = CompletionsCodec()

__all__ = ["CODEC", "COMPLETIONS_CODEC", "CompletionsCodec", "FimCodec"]
