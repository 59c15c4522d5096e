"""OpenAI Chat Completions, both directions (also Mistral chat, vLLM, llama.cpp, DeepSeek…).

"edge N" in this package cites case N of docs/edge-cases.md.
"""

from crosswire.protocols.openai_chat.codec import OpenAIChatCodec

CODEC = OpenAIChatCodec()

__all__ = ["CODEC", "OpenAIChatCodec"]
