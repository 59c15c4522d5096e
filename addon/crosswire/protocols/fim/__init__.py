"""Codestral FIM (``CODEC``) and OpenAI-style completions with suffix (``COMPLETIONS_CODEC``).

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.fim.codec import CompletionsCodec, FimCodec

CODEC = FimCodec()
COMPLETIONS_CODEC = CompletionsCodec()

__all__ = ["CODEC", "COMPLETIONS_CODEC", "CompletionsCodec", "FimCodec"]
