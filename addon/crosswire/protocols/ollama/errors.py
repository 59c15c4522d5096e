"""Ollama error bodies ⇄ IR: ``{"error": "…"}`` with the HTTP status (docs: api/errors).

Ollama's clients read only the ``error`` string and the status (``ollama.ResponseError``), so
the status carries the kind: 429 stays 429; Anthropic's 529 (overloaded) becomes 503, the
status Ollama itself answers when its queue is full. Upstream bodies in other shapes (an
OpenAI-style envelope from a gateway, HTML, nothing) decode as well, with ``retry-after``.
"""

from __future__ import annotations

from crosswire import ir
from crosswire.ir.errors import STATUS_FOR_KIND
from crosswire.protocols import openai_errors
from crosswire.protocols.base import ClientCall, EncodedError
from crosswire.protocols.common import dumps, retry_after_header


def encode(call: ClientCall | None, error: ir.Error) -> EncodedError:
    status = error.status if 400 <= error.status <= 599 else STATUS_FOR_KIND[error.kind]
    return EncodedError(
        status=503 if status == 529 else status,
        body=dumps({"error": error.message}),
        headers=retry_after_header(error),
    )


#: ``{"error": "…"}`` and every other shape ``openai_errors`` reads (it takes a string
#: ``error`` as the message).
decode = openai_errors.decode
