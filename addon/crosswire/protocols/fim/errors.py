"""FIM / completions errors: OpenAI's envelope, or Mistral's shapes for apps on its SDK
(``protocols/openai_errors.py`` holds both); upstream bodies in either shape decode."""

from __future__ import annotations

from collections.abc import Mapping

from crosswire import ir
from crosswire.protocols import openai_errors

#: The app's error answer: OpenAI's envelope, or Mistral's shapes for an app on its SDK.
encode = openai_errors.encode_for


def decode(status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
    return openai_errors.decode(status, {k.lower(): v for k, v in headers.items()}, body)
