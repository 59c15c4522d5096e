"""Ollama's native API, both directions."""

from crosswire.protocols.ollama.codec import OllamaCodec

CODEC = OllamaCodec()

__all__ = ["CODEC", "OllamaCodec"]
