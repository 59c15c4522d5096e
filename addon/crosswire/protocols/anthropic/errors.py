"""Anthropic error bodies ⇄ IR: ``{"type":"error","error":{"type","message"},"request_id"}``.

https://docs.anthropic.com/en/api/errors — 429 and 529 keep their status so that clients retry
(Claude Code retries on 529; edge 90); an ``event: error`` inside a 200 stream gets the status
its type implies (edge 10).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.ir.errors import STATUS_FOR_KIND, kind_for_status
from crosswire.protocols.anthropic.mapping import ERROR_KIND, ERROR_TYPE
from crosswire.protocols.base import ClientCall, EncodedError
from crosswire.protocols.common import dumps, retry_after, retry_after_header

#: How much of a non-JSON error body (an HTML page from a gateway) becomes the message.
_MAX_MESSAGE = 500


def from_object(data: Any, status: int | None) -> ir.Error:
    """An error object as Anthropic sends it, in a body (``status`` known) or an
    ``event: error`` (``status`` None: taken from the type)."""
    err = data.get("error") if isinstance(data, dict) else None
    message, etype = "", None
    if isinstance(err, dict):
        raw_message, raw_type = err.get("message"), err.get("type")
        message = raw_message if isinstance(raw_message, str) else ""
        etype = raw_type if isinstance(raw_type, str) else None
    elif isinstance(err, str):
        message = err
    known = ERROR_KIND.get(etype or "")
    if status is None or status < 400:
        status = known[1] if known else 500
    kind = known[0] if known else kind_for_status(status)
    return ir.Error(
        kind=kind,
        message=message or f"upstream error {etype or status}",
        status=status,
        code=etype,
    )


def decode(status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
    """Any body: Anthropic's shape, another JSON shape, HTML, or nothing."""
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and "error" in data:
        err = from_object(data, status)
    else:
        text = body.decode("utf-8", "replace").strip()
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"]
        err = ir.Error(
            kind=kind_for_status(status),
            status=status,
            message=text[:_MAX_MESSAGE] or f"upstream answered HTTP {status}",
        )
    retry = retry_after(headers)
    return err if retry is None else dataclasses.replace(err, retry_after=retry)


def body(error: ir.Error) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPE.get(error.kind, "api_error"), "message": error.message},
    }


def status_for(error: ir.Error) -> int:
    """The HTTP status to answer with: the upstream's, except an overload without a 5xx of
    its own becomes Anthropic's 529."""
    status = error.status if 400 <= error.status <= 599 else STATUS_FOR_KIND[error.kind]
    if error.kind == "overloaded" and status not in (503, 529):
        status = 529
    return status


def encode(call: ClientCall | None, error: ir.Error) -> EncodedError:
    return EncodedError(
        status=status_for(error), body=dumps(body(error)), headers=retry_after_header(error)
    )
