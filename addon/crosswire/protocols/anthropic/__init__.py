"""Anthropic Messages, both directions (see ``codec``).

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.anthropic.codec import AnthropicCodec

CODEC = AnthropicCodec()

__all__ = ["CODEC", "AnthropicCodec"]
