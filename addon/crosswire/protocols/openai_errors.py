"""OpenAI error bodies ⇄ IR errors: ``{"error":{"message","type","param","code"}}``.

Shared by the two OpenAI protocols (Chat Completions and Responses) and the OpenAI-style
completions/FIM endpoints: one envelope, one piece of code.

Apps on Mistral's SDK (``ClientCall.dialect == "mistral"``) get Mistral's own shapes instead,
as its API answers them: ``{"object":"error","message","type","param","code"}`` at the top
level (a 429 is ``type:"rate_limited"``, code ``"1300"``), ``{"detail":"…"}`` for a refused
key, and for a 422 a ``detail`` list of ``{loc,msg,type}`` that the SDK parses into its
``HTTPValidationError`` (every other status becomes its ``SDKError`` with the status kept).
Error reference: https://docs.mistral.ai/api/ (schemas HTTPValidationError, ValidationError).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.ir.errors import kind_for_status
from crosswire.protocols.base import ClientCall, EncodedError
from crosswire.protocols.common import dumps, retry_after, retry_after_header

#: IR error kind → OpenAI error.type
ERROR_TYPE: dict[ir.ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "quota_exhausted": "insufficient_quota",
    "api_error": "server_error",
    "overloaded": "server_error",
    "unavailable": "server_error",
    "timeout": "timeout",
}


def decode(status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
    message, etype, code, param = "", None, None, None
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        code = err.get("code") if isinstance(err.get("code"), str) else None
        param = err.get("param") if isinstance(err.get("param"), str) else None
    elif isinstance(err, str):
        message = err
    elif isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"]
    if not message:
        message = (
            body.decode("utf-8", "replace")[:500].strip() or f"upstream answered HTTP {status}"
        )
    kind = kind_for_status(status)
    if code == "insufficient_quota" or etype == "insufficient_quota":
        kind = "quota_exhausted"
    retry = retry_after(headers)
    return ir.Error(
        kind=kind,
        message=message,
        status=status,
        code=code or etype,
        param=param,
        retry_after=retry,
    )


def body(error: ir.Error) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": ERROR_TYPE.get(error.kind, "server_error"),
            "param": error.param,
            "code": error.code,
        }
    }


#: IR error kind → Mistral ``type`` (what api.mistral.ai puts beside ``"object":"error"``).
MISTRAL_TYPE: dict[ir.ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "unauthorized",
    "permission": "forbidden",
    "not_found": "not_found",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limited",
    "quota_exhausted": "rate_limited",
    "api_error": "internal_error",
    "overloaded": "service_unavailable",
    "unavailable": "service_unavailable",
    "timeout": "timeout",
}
#: Mistral's numeric error codes (as strings) for the kinds it documents one for.
MISTRAL_CODE: dict[ir.ErrorKind, str] = {"rate_limit": "1300", "quota_exhausted": "1300"}


def mistral_flat(error: ir.Error) -> dict[str, Any]:
    """``{"object":"error","message","type","param","code"}``: Mistral's usual error object,
    and what an error inside a stream looks like to its SDK."""
    code = error.code if error.code and error.code.isdigit() else MISTRAL_CODE.get(error.kind)
    return {
        "object": "error",
        "message": error.message,
        "type": MISTRAL_TYPE.get(error.kind, "internal_error"),
        "param": error.param,
        "code": code,
    }


def mistral_body(error: ir.Error, status: int) -> dict[str, Any]:
    """A whole error answer. A 401 is ``{"detail": message}`` (what the API answers for a bad
    key); a 422 also carries the ``detail`` list the SDK's ``HTTPValidationError`` reads."""
    if status == 401:
        return {"detail": error.message}
    out = mistral_flat(error)
    if status == 422:
        loc: list[str] = ["body", *(error.param.split(".") if error.param else [])]
        out["detail"] = [{"type": "value_error", "loc": loc, "msg": error.message}]
    return out


def encode(error: ir.Error, dialect: str = "openai") -> EncodedError:
    status = error.status
    if status == 529:
        status = 503  # OpenAI and Mistral clients know 503 as overloaded; both retry
    headers = retry_after_header(error)
    payload = mistral_body(error, status) if dialect == "mistral" else body(error)
    return EncodedError(status=status, body=dumps(payload), headers=headers)


def encode_for(call: ClientCall | None, error: ir.Error) -> EncodedError:
    """``encode`` in the dialect of the app's call (the skeleton's ``errors.encode``)."""
    return encode(error, call.dialect if call is not None else "openai")


#: OpenAI ``error.type`` / ``error.code`` → IR kind and the HTTP status the same failure has as
#: a plain answer, for errors that arrive inside a 200 stream (no status of their own; edge
#: 10): Chat's ``{"error": …}`` chunks, Responses' ``error`` events and ``response.failed``.
#: Codex switches on the Responses codes (context window → compaction, quota → stop, rate
#: limit → retry after the delay named in the message).
STREAM_ERROR_KIND: dict[str, tuple[ir.ErrorKind, int]] = {
    "invalid_request_error": ("invalid_request", 400),
    "context_length_exceeded": ("invalid_request", 400),
    "invalid_prompt": ("invalid_request", 400),
    "authentication_error": ("authentication", 401),
    "permission_error": ("permission", 403),
    "not_found_error": ("not_found", 404),
    "rate_limit_error": ("rate_limit", 429),
    "rate_limit_exceeded": ("rate_limit", 429),
    "slow_down": ("rate_limit", 429),
    "insufficient_quota": ("quota_exhausted", 429),
    "server_error": ("api_error", 500),
    "api_error": ("api_error", 500),
    "overloaded_error": ("overloaded", 529),
    "server_is_overloaded": ("overloaded", 503),
    "service_unavailable": ("unavailable", 503),
    "timeout": ("timeout", 504),
    "vector_store_timeout": ("timeout", 504),
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def from_stream(payload: Any) -> ir.Error:
    """An error inside a 200 stream: an ``error`` object (nested under ``error`` as Responses'
    ``error`` event has it, or flat), or a bare message. The status comes from a numeric
    ``code`` (OpenRouter, vLLM) or from ``STREAM_ERROR_KIND``; unknown ``invalid_…``,
    ``image_…`` and ``unsupported_…`` codes are the request's fault."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        payload = payload["error"]
    err = payload if isinstance(payload, dict) else {"message": str(payload)}
    message = err.get("message")
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False) if message is not None else ""
    etype, raw_code = _text(err.get("type")), err.get("code")
    code = _text(raw_code)
    status = 500
    kind: ir.ErrorKind = "api_error"
    known = STREAM_ERROR_KIND.get(code or "") or STREAM_ERROR_KIND.get(etype or "")
    if isinstance(raw_code, int) and not isinstance(raw_code, bool) and 400 <= raw_code <= 599:
        status, kind = raw_code, kind_for_status(raw_code)
        if known is not None and known[0] == "quota_exhausted":
            kind = "quota_exhausted"
    elif known is not None:
        kind, status = known
    elif (code or "").startswith(("invalid_", "image_", "unsupported_")):
        kind, status = "invalid_request", 400
    return ir.Error(
        kind=kind,
        message=message or "the upstream reported an error mid-stream",
        status=status,
        code=code or etype,
        param=_text(err.get("param")),
    )


def chunk_error(chunk: dict[str, Any]) -> ir.Error | None:
    """The error a chunk of a Chat-shaped stream (Chat, FIM, completions) carries instead of
    choices: ``{"error": …}`` (OpenAI, OpenRouter) or Mistral's and vLLM's flat
    ``{"object": "error", …}``; ``None`` for an ordinary chunk."""
    if chunk.get("choices"):
        return None
    if chunk.get("error") is not None:
        return from_stream(chunk["error"])
    if chunk.get("object") == "error":
        return from_stream(chunk)
    return None


def stream_body(error: ir.Error, dialect: str = "openai") -> dict[str, Any]:
    """An error written inside a 200 stream: Mistral's flat object for its SDK, else OpenAI's
    ``{"error":…}`` (edge 10 in docs/edge-cases.md)."""
    return mistral_flat(error) if dialect == "mistral" else body(error)
