"""OpenAI Responses (``/v1/responses``), both directions: see ``codec``.

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.openai_responses.codec import OpenAIResponsesCodec

CODEC = OpenAIResponsesCodec()

__all__ = ["CODEC", "OpenAIResponsesCodec"]
