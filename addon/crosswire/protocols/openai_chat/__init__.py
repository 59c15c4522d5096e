"""OpenAI Chat Completions, both directions (also Mistral chat, vLLM, llama.cpp, DeepSeek…)."""

from crosswire.protocols.openai_chat.codec import OpenAIChatCodec

CODEC = OpenAIChatCodec()

__all__ = ["CODEC", "OpenAIChatCodec"]
