"""Anthropic Messages, both directions (see ``codec``)."""

from crosswire.protocols.anthropic.codec import AnthropicCodec

CODEC = AnthropicCodec()

__all__ = ["CODEC", "AnthropicCodec"]
