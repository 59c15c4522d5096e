"""FIM / completions errors: OpenAI's envelope, or Mistral's shapes for apps on its SDK
(``protocols/openai_errors.py`` holds both); upstream bodies in either shape decode."""

from __future__ import annotations

from crosswire.protocols import openai_errors

#: The app's error answer: OpenAI's envelope, or Mistral's shapes for an app on its SDK.
encode = openai_errors.encode_for
#: An upstream error answer in either shape.
decode = openai_errors.decode
