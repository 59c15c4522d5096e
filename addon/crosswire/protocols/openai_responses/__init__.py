"""OpenAI Responses, both directions."""

from crosswire.protocols.openai_responses.codec import OpenAIResponsesCodec

CODEC = OpenAIResponsesCodec()

__all__ = ["CODEC", "OpenAIResponsesCodec"]
