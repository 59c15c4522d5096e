"""Ollama's native API, both directions.

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.ollama.codec import OllamaCodec

CODEC = OllamaCodec()

__all__ = ["CODEC", "OllamaCodec"]
