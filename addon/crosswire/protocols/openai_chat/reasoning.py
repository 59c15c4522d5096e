"""Reasoning on the Chat Completions wire, which has no standard field for it.

Three shapes meet here:

* ``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or ``reasoning`` (OpenRouter, Ollama's
  ``/v1``): plain text on the message or delta.
* Mistral reasoning models: ``content`` is an array of ``{"type":"thinking","thinking":[{"type":
  "text","text":…}]}`` and ``{"type":"text","text":…}`` chunks.
* ``thinking_blocks: [{type, thinking, signature, provider}]`` (docs/codecs.md): the carrier
  that lets signed reasoning from another provider (Anthropic's signature, a Responses
  ``encrypted_content``) travel through an OpenAI client and come home intact when the client
  echoes the message back (edge 61, 63 in docs/edge-cases.md).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols.openai_chat.mapping import NAME


def plain_text(msg: dict[str, Any]) -> str | None:
    """``reasoning_content`` or OpenRouter's ``reasoning``, when a string."""
    text = msg.get("reasoning_content")
    if isinstance(text, str):
        return text
    text = msg.get("reasoning")
    return text if isinstance(text, str) else None


def thinking_chunk_text(chunk: dict[str, Any]) -> str:
    """The text of a Mistral ``thinking`` chunk (a list of text chunks, or a plain string)."""
    inner = chunk.get("thinking")
    if isinstance(inner, str):
        return inner
    if not isinstance(inner, list):
        return ""
    return "".join(
        t["text"] for t in inner if isinstance(t, dict) and isinstance(t.get("text"), str)
    )


def thinking_chunk(text: str) -> dict[str, Any]:
    """A Mistral ``thinking`` content chunk (for replaying reasoning to Mistral)."""
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


def decode_carrier(blocks: Any) -> list[ir.Part]:
    """``thinking_blocks`` → Reasoning parts with their origin (``provider``)."""
    out: list[ir.Part] = []
    if not isinstance(blocks, list):
        return out
    for block in blocks:
        if not isinstance(block, dict):
            continue
        provider = block.get("provider")
        origin = provider if isinstance(provider, str) and provider else "anthropic"
        if block.get("type") == "redacted_thinking":
            data = block.get("data")
            out.append(ir.Reasoning(redacted=data if isinstance(data, str) else "", origin=origin))
        else:
            text = block.get("thinking")
            signature = block.get("signature")
            out.append(
                ir.Reasoning(
                    text=text if isinstance(text, str) else "",
                    signature=signature if isinstance(signature, str) and signature else None,
                    origin=origin,
                )
            )
    return out


def carrier_block(part: ir.Reasoning, text: str | None = None) -> dict[str, Any]:
    """One ``thinking_blocks`` entry; ``text`` overrides the part's (streams accumulate it)."""
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted, "provider": part.origin}
    return {
        "type": "thinking",
        "thinking": part.text if text is None else text,
        "signature": part.signature,
        "provider": part.origin,
    }


def needs_carrier(part: ir.Reasoning) -> bool:
    """Opaque state that plain ``reasoning_content`` would lose."""
    return bool(part.signature) or part.redacted is not None


def encode_carrier(parts: list[ir.Reasoning]) -> list[dict[str, Any]]:
    """The carrier for a message, or ``[]`` when nothing in it is signed."""
    if not any(needs_carrier(p) for p in parts):
        return []
    return [carrier_block(p) for p in parts]


def own(part: ir.Reasoning) -> bool:
    return part.origin == NAME
