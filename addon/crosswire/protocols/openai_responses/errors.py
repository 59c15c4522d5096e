"""Errors: HTTP error bodies use the OpenAI envelope shared with Chat Completions
(``protocols.openai_errors``); this module adds the in-stream shapes of Responses.

Upstream, a failure after HTTP 200 arrives as an ``error`` event (``{"type":"error",
"error":{type,code,message,param}}`` on the wire today; the SDK's model has the fields at the
top level — both are read) and/or ``response.failed`` with ``response.error: {code,message}``.
Towards a client, an IR ``StreamError`` becomes both (edge 10): an ``error`` event with the
fields at both levels (the openai SDK raises ``APIError`` on it, the SDK's
``ResponseErrorEvent`` validates), then ``response.failed``, which Codex reads: its
``error.code`` is an OpenAI code Codex acts on (``context_length_exceeded``,
``insufficient_quota``, ``rate_limit_exceeded`` with "try again in Ns", …).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols import openai_errors
from crosswire.protocols.base import ClientCall, EncodedError
from crosswire.protocols.openai_responses.mapping import (
    FAILED_CODE_FOR_KIND,
    KNOWN_FAILED_CODES,
)

#: An upstream error answer: OpenAI's envelope.
decode = openai_errors.decode


def encode(call: ClientCall | None, error: ir.Error) -> EncodedError:
    return openai_errors.encode(error)


#: An upstream ``error`` event, or ``response.failed``'s ``response.error``.
from_stream = openai_errors.from_stream


def failed_code(error: ir.Error) -> str:
    if error.code in KNOWN_FAILED_CODES:
        return error.code
    return FAILED_CODE_FOR_KIND.get(error.kind, "server_error")


def _message(error: ir.Error, code: str) -> str:
    message = error.message or "the response failed"
    if (
        code == "rate_limit_exceeded"
        and error.retry_after is not None
        and "try again in" not in message.lower()
    ):
        # Codex reads the delay from the message ("Please try again in 1.5s").
        message = f"{message.rstrip('.')}. Please try again in {error.retry_after:g}s."
    return message


def failed_error(error: ir.Error) -> dict[str, Any]:
    """``response.error`` of a failed response."""
    code = failed_code(error)
    return {
        "code": code,
        "message": _message(error, code),
        "type": openai_errors.ERROR_TYPE.get(error.kind, "server_error"),
        "param": error.param,
    }


def event_fields(error: ir.Error) -> dict[str, Any]:
    """The fields of an ``error`` event: flat (the SDK's model) and nested (the wire)."""
    body = failed_error(error)
    return {
        "code": body["code"],
        "message": body["message"],
        "param": error.param,
        "error": body,
    }
