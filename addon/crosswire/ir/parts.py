"""Content parts: the atoms every message and response is made of.

Why a neutral set and not one wire format's blocks: each protocol can express a different
subset (Anthropic signs thinking, Gemini signs function calls, OpenAI Chat has neither), and a
hub built on one wire format loses whatever that format cannot say. Each part keeps what its
decoder did not model in ``native[protocol]`` so the same protocol's encoder can put it back.

All values are frozen: the converters build new values instead of editing shared ones, so a
request decoded once can be encoded for several fallback backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: What a decoder did not model, keyed by the protocol that produced it:
#: ``{"anthropic": {"cache_control": {...}}}``. Only that protocol's encoder reads its entry.
Native = Mapping[str, Mapping[str, Any]]

FileKind = Literal["image", "document", "audio", "file"]


def no_native() -> dict[str, Mapping[str, Any]]:
    """Default factory for ``native`` fields (a fresh dict each time)."""
    return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Text:
    """Visible text. Maps to OpenAI ``content``/``text`` parts, Anthropic ``text`` blocks,
    Gemini ``{"text"}`` parts, Ollama ``content``."""

    text: str
    native: Native = field(default_factory=no_native)
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class File:
    """An image, document or audio clip, given inline (base64), by URL, or by a provider file id.

    ``data`` is standard base64 (not URL-safe) without a ``data:`` prefix; decoders normalise.
    """

    kind: FileKind
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    native: Native = field(default_factory=no_native)
    type: Literal["file"] = "file"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reasoning:
    """Model reasoning ("thinking").

    ``signature`` and ``redacted`` (Anthropic ``redacted_thinking.data``, OpenAI Responses
    ``encrypted_content``) are opaque state that only ``origin`` can verify: encoders of other
    protocols never send them upstream (they may still show ``text``).
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    origin: str | None = None
    native: Native = field(default_factory=no_native)
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A function call the model made.

    ``arguments`` is the raw JSON text as the model produced it — never re-serialised, so
    key order and number formatting survive; ``""`` means no arguments (treat as ``{}``).
    """

    id: str
    name: str
    arguments: str = ""
    native: Native = field(default_factory=no_native)
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """The app's answer to a tool call. ``content`` is text and files (screenshots, PDFs)."""

    call_id: str
    name: str | None = None
    content: tuple[Text | File, ...] = ()
    is_error: bool = False
    native: Native = field(default_factory=no_native)
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True, kw_only=True)
class Opaque:
    """A provider-only block nobody else can express (server tool use, web search results,
    compaction…). Re-emitted only to ``origin``; elsewhere dropped with a warning."""

    origin: str
    data: Mapping[str, Any]
    native: Native = field(default_factory=no_native)
    type: Literal["opaque"] = "opaque"


Part = Text | File | Reasoning | ToolCall | ToolResult | Opaque
