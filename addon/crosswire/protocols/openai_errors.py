"""OpenAI error bodies ⇄ IR errors: ``{"error":{"message","type","param","code"}}``.

Shared by the two OpenAI protocols (Chat Completions and Responses) and the OpenAI-style
completions/FIM endpoints: one envelope, one piece of code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.ir.errors import kind_for_status
from crosswire.protocols.base import EncodedError
from crosswire.protocols.common import dumps

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
    retry = _retry_after(headers)
    return ir.Error(
        kind=kind,
        message=message,
        status=status,
        code=code or etype,
        param=param,
        retry_after=retry,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def body(error: ir.Error) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": ERROR_TYPE.get(error.kind, "server_error"),
            "param": error.param,
            "code": error.code,
        }
    }


def encode(error: ir.Error) -> EncodedError:
    status = error.status
    if status == 529:
        status = 503  # OpenAI clients know 503 as overloaded; both retry
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, int(error.retry_after + 0.999)))
    return EncodedError(status=status, body=dumps(body(error)), headers=headers)
