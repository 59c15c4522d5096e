"""Tool-call ids and names, made acceptable to each protocol, reversibly and deterministically.

Deterministic (a hash of the original) so that the same id maps the same way on every turn of
a conversation without any state: the assistant's call and the later tool result agree.
"""

from __future__ import annotations

import hashlib
import re

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def safe_id(value: str, *, prefix: str = "") -> str:
    """An id matching ``^[A-Za-z0-9_-]+$`` (Anthropic, OpenAI): kept when already safe."""
    if value and _SAFE_ID.match(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", value)[:40]
    return f"{prefix}{cleaned}_{_digest(value).hex()[:8]}"


def alnum_id(value: str, length: int = 9) -> str:
    """Mistral's format: exactly ``length`` characters of ``[A-Za-z0-9]``."""
    if len(value) == length and value.isascii() and value.isalnum():
        return value
    digest = _digest(value)
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:length])


def derived_call_id(seed: str, position: int, *, prefix: str = "call_") -> str:
    """An id for a call that came without one (Gemini 2.x, Ollama): stable for the same
    response id and position, so replays of the same history agree."""
    return f"{prefix}{_digest(f'{seed}:{position}').hex()[:24]}"


_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def short_name(name: str, limit: int = 64) -> str:
    """A tool name within ``limit`` characters of ``[A-Za-z0-9_-]``: a readable prefix plus a
    hash, so that two long MCP names never collide. Callers keep the reverse mapping."""
    if _NAME_OK.match(name) and len(name) <= limit:
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
        cleaned = "_" + cleaned  # Gemini: names start with a letter or an underscore
    if len(cleaned) <= limit and cleaned == name:
        return cleaned
    tail = _digest(name).hex()[:8]
    return f"{cleaned[: limit - 9]}_{tail}"
