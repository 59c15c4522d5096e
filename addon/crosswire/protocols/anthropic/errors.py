"""Anthropic error bodies ⇄ IR: ``{"type":"error","error":{"type","message"},"request_id"}``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.ir.errors import kind_for_status
from crosswire.protocols.anthropic.mapping import ERROR_KIND, ERROR_TYPE
from crosswire.protocols.base import EncodedError
from crosswire.protocols.common import dumps


def from_object(data: Any, status: int) -> ir.Error:
    err = data.get("error") if isinstance(data, dict) else None
    message, etype = "", None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        etype = err.get("type") if isinstance(err.get("type"), str) else None
    elif isinstance(err, str):
        message = err
    kind = ERROR_KIND.get(etype or "", kind_for_status(status))
    if kind == "overloaded" and status == 500:
        status = 529
    if etype == "rate_limit_error" and status < 400:
        status = 429
    return ir.Error(
        kind=kind, message=message or f"upstream error {etype or status}", status=status, code=etype
    )


def decode(status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        err = from_object(data, status)
    else:
        err = ir.Error(
            kind=kind_for_status(status),
            status=status,
            message=body.decode("utf-8", "replace")[:500].strip()
            or f"upstream answered HTTP {status}",
        )
    retry = headers.get("retry-after")
    if retry:
        with contextlib.suppress(ValueError):
            err = ir.Error(
                kind=err.kind,
                message=err.message,
                status=err.status,
                code=err.code,
                retry_after=float(retry),
            )
    return err


def body(error: ir.Error) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPE.get(error.kind, "api_error"), "message": error.message},
    }


def encode(error: ir.Error) -> EncodedError:
    status = error.status
    if error.kind == "overloaded":
        status = 529
    headers = (
        {"retry-after": str(max(1, int(error.retry_after + 0.999)))}
        if error.retry_after is not None
        else {}
    )
    return EncodedError(status=status, body=dumps(body(error)), headers=headers)
