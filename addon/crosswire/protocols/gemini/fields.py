"""Reading Gemini JSON whose keys may be camelCase or snake_case.

Why: the Gemini API parses requests with the protobuf JSON mapping, which accepts both the
lowerCamelCase name and the original proto field name, and real clients use both —
google-genai and the REST docs send ``inlineData``, pydantic-ai and ``llm`` send
``inline_data``, ``function_call``, ``parameters_json_schema``, ``response_mime_type``
(see the recordings in ``tests/fixtures/gemini``). Every key lookup of client JSON goes
through :func:`get` so both spellings work; user-owned objects (function ``args``, schemas,
``response``) are never renamed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from crosswire.protocols.common import expect

_UPPER = re.compile(r"([A-Z])")


@cache
def snake(name: str) -> str:
    """``inlineData`` → ``inline_data``."""
    return _UPPER.sub(lambda m: "_" + m.group(1).lower(), name)


@cache
def camel(name: str) -> str:
    """``inline_data`` → ``inlineData`` (already-camel names are unchanged)."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def get(obj: dict[str, Any], name: str) -> Any:
    """``obj[name]`` under its camelCase or snake_case spelling; None when absent."""
    value = obj.get(name)
    if value is None:
        alt = snake(name)
        if alt != name:
            value = obj.get(alt)
    return value


def has(obj: dict[str, Any], name: str) -> bool:
    return name in obj or snake(name) in obj


def opt[T](obj: dict[str, Any], name: str, kind: type[T] | tuple[type, ...], path: str) -> T | None:
    """:func:`get` checked against ``kind``; a 400 naming ``path.name`` on a wrong type."""
    value = get(obj, name)
    if value is None:
        return None
    return expect(value, kind, f"{path}.{name}" if path else name)


def rest(obj: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The keys of ``obj`` not in ``known`` (camelCase names), re-keyed to camelCase so that
    the encoder can merge them back next to its own camelCase keys without duplicates."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        key_camel = camel(key)
        if key_camel not in known:
            out[key_camel] = value
    return out


def keep_rest(
    obj: dict[str, Any], known: frozenset[str], path: str, native: dict[str, Any]
) -> None:
    """The keys of ``obj`` beyond ``known`` (``rest``) into ``native``, each under its path
    (``path.key``), for the same protocol's encoder to put back."""
    for key, value in rest(obj, known).items():
        native[f"{path}.{key}"] = value
