"""Fields crosswire returns on purpose that the app SDK's types do not declare: a narrow,
documented allow-list, applied before the strict check.

Each entry names the client protocol, the exact place, the key, the shape its value must have,
and why it is there. A key is taken out of the answer only at that place and only when its
value has that shape (for the reasoning keys: only when it actually holds reasoning); anywhere
else, or with any other value, it stays in and the strict check reports it as an unknown field.

* **openai-chat (dialect openai) — ``choices[i].message`` and ``choices[i].delta``:**
  ``reasoning_content`` (a non-empty string) and ``thinking_blocks`` (a non-empty list of
  thinking / redacted-thinking blocks). OpenAI's Chat API returns no reasoning text, so
  openai 3.54's ``ChatCompletionMessage`` / ``ChoiceDelta`` have neither key; crosswire adds
  them when a backend reasoned: ``reasoning_content`` is the DeepSeek-style field that apps
  showing reasoning read (pydantic keeps unknown keys, so the SDK parses the answer), and
  ``thinking_blocks`` carries signed or redacted thinking so an app that echoes the message
  back returns it intact to the backend that signed it.
* **openai-responses — the Response object (a whole answer, and ``response`` in the
  ``response.*`` lifecycle events):** ``store`` (a boolean). The real API returns it in every
  Response (all the recordings in ``tests/fixtures/openai_responses``, 2025 and 2026); openai
  3.54's ``Response`` model omits it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

from tests.contract.checker import Checker

_CHECK = Checker()


class _ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str | None
    provider: str


class _RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str
    provider: str


def _nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _thinking_blocks(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and not _CHECK.check(value, list[_ThinkingBlock | _RedactedThinkingBlock])
    )


def _boolean(value: Any) -> bool:
    return isinstance(value, bool)


#: key → what its value must be, for the places below.
_CHAT_REASONING: dict[str, Callable[[Any], bool]] = {
    "reasoning_content": _nonempty_text,
    "thinking_blocks": _thinking_blocks,
}
_RESPONSE_OBJECT: dict[str, Callable[[Any], bool]] = {"store": _boolean}

#: Responses stream events whose ``response`` is a Response object.
_RESPONSE_EVENTS = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.queued",
    }
)


def _without(obj: Any, allowed: dict[str, Callable[[Any], bool]]) -> Any:
    """``obj`` without the allowed keys whose values have the allowed shape."""
    if not isinstance(obj, dict):
        return obj
    return {k: v for k, v in obj.items() if not (k in allowed and allowed[k](v))}


def allowed_removed(client: str, dialect: str, value: Any, *, stream: bool) -> Any:
    """The answer (a whole body or one stream event) with the allow-listed keys taken out."""
    if not isinstance(value, dict):
        return value
    if client == "openai-chat" and dialect == "openai":
        choices = value.get("choices")
        if not isinstance(choices, list):
            return value
        slot = "delta" if stream else "message"
        return {
            **value,
            "choices": [
                {**c, slot: _without(c.get(slot), _CHAT_REASONING)}
                if isinstance(c, dict) and slot in c
                else c
                for c in choices
            ],
        }
    if client == "openai-responses":
        if not stream:
            return _without(value, _RESPONSE_OBJECT)
        if value.get("type") in _RESPONSE_EVENTS and "response" in value:
            return {**value, "response": _without(value["response"], _RESPONSE_OBJECT)}
    return value
