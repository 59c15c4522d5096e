"""Anthropic Messages, both directions."""

from crosswire.protocols.anthropic.codec import AnthropicCodec

CODEC = AnthropicCodec()

__all__ = ["CODEC", "AnthropicCodec"]
