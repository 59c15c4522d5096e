"""OpenAI Responses (``/v1/responses``), both directions: see ``codec``."""

from crosswire.protocols.openai_responses.codec import OpenAIResponsesCodec

CODEC = OpenAIResponsesCodec()

__all__ = ["CODEC", "OpenAIResponsesCodec"]
