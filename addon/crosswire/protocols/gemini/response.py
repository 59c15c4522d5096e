"""Whole ``GenerateContentResponse`` answers, both directions.

Decoding keeps parts one to one (a thought, a signed text, each ``functionCall``), maps
``finishReason`` through :mod:`mapping` (``STOP`` + calls → ``tool_calls``), and keeps what the
IR does not model (grounding and citation metadata, safety ratings, ``finishMessage``) in
``Response.native["gemini"]`` so that a Gemini client behind a Gemini backend gets it back.
Only the first candidate is returned (the IR holds one answer).

https://ai.google.dev/api/generate-content#generatecontentresponse
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from crosswire.ir import (
    ClientRequestError,
    File,
    Finish,
    Opaque,
    Part,
    Reasoning,
    Report,
    Request,
    Response,
    Text,
    ToolCall,
    UpstreamProtocolError,
    accumulate,
)
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import loads_upstream
from crosswire.protocols.gemini import mapping
from crosswire.protocols.gemini.answer import call_id_maker, derived_response_id, parse_time
from crosswire.protocols.gemini.parts import (
    NAME,
    call_part,
    call_signature,
    decode_part,
    file_part,
    gemini_native,
    text_part,
    thought_part,
)
from crosswire.protocols.gemini.rawjson import dumps
from crosswire.protocols.gemini.stream_decode import GeminiStreamDecoder
from crosswire.protocols.gemini.tokens import metadata_from_usage, usage_from_metadata

#: The native key holding the first candidate's unmodelled fields.
CANDIDATE_NATIVE: Final = "candidate"


def decode_chunk_parts(raw_parts: Any, path: str, make_id: Any) -> list[Part]:
    """Upstream parts → IR parts; a wrong type is the upstream's fault, not the app's."""
    if not isinstance(raw_parts, list):
        return []
    try:
        return [decode_part(raw, f"{path}[{j}]", make_id) for j, raw in enumerate(raw_parts)]
    except ClientRequestError as exc:
        raise UpstreamProtocolError(f"Gemini answered a malformed part: {exc}") from exc


def decode(body: bytes, report: Report) -> Response:
    stripped = body.lstrip()
    if stripped.startswith((b"[", b"data:")):  # a stream delivered whole (edge case 7)
        return _decode_stream_body(body, report)
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Gemini answered something other than a JSON object")
    if isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        raise UpstreamProtocolError(f"Gemini answered an error with status 200: {message}")
    return decode_whole(data, body, report)


def _decode_stream_body(body: bytes, report: Report) -> Response:
    decoder = GeminiStreamDecoder(None, report)
    events = decoder.feed(body) + decoder.flush()
    response = accumulate(events)
    errors = [e for e in events if e.type == "error"]
    if errors:
        raise UpstreamProtocolError(errors[0].error.message)  # type: ignore[union-attr]
    return response


def decode_whole(data: dict[str, Any], body: bytes, report: Report) -> Response:
    response_id = data.get("responseId")
    if not isinstance(response_id, str) or not response_id:
        response_id = derived_response_id(body)
    model_version = data.get("modelVersion")
    model = model_version if isinstance(model_version, str) else ""
    usage = usage_from_metadata(data.get("usageMetadata"))
    native: dict[str, Any] = {k: v for k, v in data.items() if k not in mapping.RESPONSE_KNOWN}
    if "promptFeedback" in data:
        native["promptFeedback"] = data["promptFeedback"]
    candidates = data.get("candidates")
    candidate = _first_candidate(candidates, report)
    parts: list[Part] = []
    if candidate is None:
        finish = _no_candidate_finish(data)
    else:
        content = candidate.get("content")
        raw_parts = content.get("parts") if isinstance(content, dict) else None
        parts = decode_chunk_parts(
            raw_parts, "candidates[0].content.parts", call_id_maker(response_id)
        )
        raw = candidate.get("finishReason")
        has_call = any(isinstance(p, ToolCall) for p in parts)
        if isinstance(raw, str):
            finish = Finish(reason=mapping.finish_reason(raw, has_tool_call=has_call), raw=raw)
        else:
            finish = Finish(reason="tool_calls" if has_call else "stop")
        extras = {k: v for k, v in candidate.items() if k not in mapping.CANDIDATE_KNOWN}
        if extras:
            native[CANDIDATE_NATIVE] = extras
    return Response(
        id=response_id,
        model=model,
        parts=tuple(parts),
        finish=finish,
        usage=usage,
        created=parse_time(data.get("createTime")),
        native={NAME: native} if native else {},
    )


def _first_candidate(candidates: Any, report: Report) -> dict[str, Any] | None:
    if not isinstance(candidates, list) or not candidates:
        return None
    first = [c for c in candidates if isinstance(c, dict) and c.get("index", 0) == 0]
    if len(candidates) > 1:
        report.dropped(
            "candidates[1:]", "the answer holds one candidate; the others are not returned"
        )
    if first:
        return first[0]
    return candidates[0] if isinstance(candidates[0], dict) else None


def _no_candidate_finish(data: Mapping[str, Any]) -> Finish:
    """No candidate: the prompt itself was blocked (``promptFeedback.blockReason``) →
    ``content_filter``; otherwise an error, never a silent clean stop."""
    feedback = data.get("promptFeedback")
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if isinstance(block, str):
        return Finish(reason="content_filter", raw=block)
    return Finish(reason="error", raw=None)


# ---- client side ----------------------------------------------------------------------------


def shows_thoughts(request: Request) -> bool:
    """Gemini sends thought summaries only with ``includeThoughts: true``; a Gemini client
    that did not ask gets none (only a Gemini signature, which it must echo)."""
    return request.reasoning is not None and request.reasoning.include_thoughts is True


def finish_out(finish: Finish) -> str:
    """The client's finishReason: the upstream's own value when it is a Gemini value of the
    same meaning, else the table's."""
    raw = finish.raw
    if raw in mapping.CLIENT_FINISH_VALUES:
        assert raw is not None
        same = mapping.finish_reason(raw, has_tool_call=finish.reason == "tool_calls")
        if same == finish.reason:
            return raw
    return mapping.FINISH_REASON_OUT.get(finish.reason, "STOP")


def encode_parts(parts: Sequence[Part], request: Request, report: Report) -> list[dict[str, Any]]:
    show = shows_thoughts(request)
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            out.append(text_part(part))
        elif isinstance(part, Reasoning):
            signed = part.origin == NAME
            if show and part.text:
                out.append(thought_part(part, signed=signed))
            elif signed and part.signature:
                out.append({"text": "", "thought": True, "thoughtSignature": part.signature})
        elif isinstance(part, ToolCall):
            out.append(call_part(part, report, signature=call_signature(part)))
        elif isinstance(part, File):
            out.append(file_part(part, upstream=False))
        elif isinstance(part, Opaque):
            if part.origin == NAME:
                out.append(dict(part.data))
            else:
                report.dropped(f"{part.origin} block", "no Gemini equivalent")
    return out


def encode(call: ClientCall, request: Request, response: Response, report: Report) -> bytes:
    native = dict(gemini_native(response.native))
    candidate: dict[str, Any] = {
        "content": {"parts": encode_parts(response.parts, request, report), "role": "model"},
        "finishReason": finish_out(response.finish),
        "index": 0,
    }
    extras = native.pop(CANDIDATE_NATIVE, None)
    if isinstance(extras, dict):
        candidate = {**extras, **candidate}
    body: dict[str, Any] = {"candidates": [candidate]}
    usage = metadata_from_usage(response.usage)
    if usage is not None:
        body["usageMetadata"] = usage
    body["modelVersion"] = response.model or request.model
    body["responseId"] = response.id
    for key, value in native.items():
        body.setdefault(key, value)
    return dumps(body)
