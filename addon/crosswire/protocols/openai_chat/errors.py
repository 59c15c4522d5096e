"""Upstream error answers → IR errors (in-stream error chunks: ``openai_errors.chunk_error``).

Error codes: https://platform.openai.com/docs/guides/error-codes
The envelope ``{"error":{"message","type","param","code"}}`` is shared with the Responses
codec (``protocols/openai_errors.py``); this module adds what OpenAI-compatible servers do
differently: vLLM and Mistral put ``message``/``type``/``code`` at the top level (Mistral's
422 ``message`` is an object), FastAPI servers answer ``{"detail": …}``, headers may come in
any case and ``retry-after`` may be an HTTP date.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.protocols import openai_errors

#: The app's error answer: OpenAI's envelope, or Mistral's shapes for an app on its SDK.
encode = openai_errors.encode_for


def decode(status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
    error = openai_errors.decode(status, headers, body)  # retry-after read in any case
    message, code = error.message, error.code
    data = _json(body)
    if isinstance(data, dict) and not isinstance(data.get("error"), (dict, str)):
        # vLLM / Mistral: {"object":"error","message":…,"type":…,"code":…}; FastAPI: {"detail":…}
        raw_message = data.get("message", data.get("detail"))
        if isinstance(raw_message, str) and raw_message:
            message = raw_message
        elif raw_message is not None:
            message = json.dumps(raw_message, ensure_ascii=False)
        for key in ("code", "type"):
            if code is None and isinstance(data.get(key), str):
                code = data[key]
    kind = error.kind
    if code == "insufficient_quota":
        kind = "quota_exhausted"
    return ir.Error(
        kind=kind,
        message=message,
        status=status,
        code=code,
        param=error.param,
        retry_after=error.retry_after,
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
