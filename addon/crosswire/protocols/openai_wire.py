"""What the two OpenAI protocols (Chat Completions and Responses) share on the wire, beside
the error envelope (``openai_errors``): the model list and the response-format object."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from crosswire import ir
from crosswire.ir.errors import ClientRequestError
from crosswire.protocols.base import ModelInfo
from crosswire.protocols.common import dumps, expect, optional


def models(models: Sequence[ModelInfo]) -> bytes:
    """``GET /v1/models``, which both protocols share (edge 89 in docs/edge-cases.md).
    ``created`` is the time of the answer: the list is crosswire's routing table, not a
    release history, and the SDKs require an integer there."""
    now = int(time.time())
    data = [{"id": m.id, "object": "model", "created": now, "owned_by": m.owned_by} for m in models]
    return dumps({"object": "list", "data": data})


def response_format(value: Any, where: str, nested: str | None) -> ir.ResponseFormat | None:
    """A response-format object (``type`` text, json_object or json_schema) at ``where``.
    Chat nests a schema's ``name``/``strict``/``schema``/``description`` under ``nested``
    (``json_schema``); Responses' ``text.format`` has them beside ``type`` (edge 59)."""
    if value is None:
        return None
    fmt = expect(value, dict, where)
    kind = fmt.get("type")
    if kind == "text" or kind == "json_object":
        return ir.ResponseFormat(type=kind)
    if kind != "json_schema":
        raise ClientRequestError(
            f"'{where}.type' must be text, json_object or json_schema, got {kind!r}",
            param=f"{where}.type",
        )
    if nested is not None:
        where = f"{where}.{nested}"
        fmt = expect(fmt.get(nested), dict, where)
    return ir.ResponseFormat(
        type="json_schema",
        schema=optional(fmt, "schema", dict, f"{where}.schema"),
        name=optional(fmt, "name", str, f"{where}.name"),
        strict=optional(fmt, "strict", bool, f"{where}.strict"),
        description=optional(fmt, "description", str, f"{where}.description"),
    )
