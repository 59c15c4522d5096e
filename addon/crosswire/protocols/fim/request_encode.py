"""IR → the upstream FIM (Codestral) or completions (OpenAI-style) request.

Only fields the server knows are sent (``mapping.FIM_FIELDS`` / ``COMPLETIONS_FIELDS``): the
app's unmodelled fields come back for the same protocol, anything else is dropped with a note.
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import dumps, set_fields
from crosswire.protocols.fim.mapping import COMPLETIONS_FIELDS, FIM_FIELDS, PATH


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    """``target.protocol`` is ``fim`` (Codestral's shape) or ``openai-completions``."""
    name = target.protocol
    if request.fim is None:
        raise UnsupportedFeature(
            "this backend only completes code (fill-in-the-middle); route chat requests "
            "to a chat backend",
            param="messages",
        )
    codestral = name == "fim"
    p = request.params
    body: dict[str, Any] = {"model": target.model or request.model, "prompt": request.fim.prefix}
    if request.fim.suffix is not None:
        body["suffix"] = request.fim.suffix
    set_fields(
        body, ("max_tokens", p.max_tokens), ("temperature", p.temperature), ("top_p", p.top_p)
    )
    if p.stop:
        body["stop"] = list(p.stop)
    if p.seed is not None:
        body["random_seed" if codestral else "seed"] = p.seed
    if p.min_tokens is not None:
        if codestral:
            body["min_tokens"] = p.min_tokens
        else:
            report.dropped("min_tokens", "OpenAI-style completions have no minimum length")
    if p.n is not None and p.n != 1:
        if codestral:
            report.dropped("n", "Codestral FIM answers one completion")
        else:
            body["n"] = p.n
    if request.stream:
        body["stream"] = True
        if not codestral:
            body["stream_options"] = {"include_usage": True}
    known = FIM_FIELDS if codestral else COMPLETIONS_FIELDS
    for key, value in (request.native.get(name) or {}).items():
        if key in known:
            body.setdefault(key, value)
        else:
            report.dropped(key, f"unknown to {name}")
    return UpstreamCall(
        path=PATH.get(name, PATH["openai-completions"]),
        body=dumps(body),
        stream=request.stream,
        headers={"content-type": "application/json"},
    )
