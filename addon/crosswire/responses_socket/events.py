"""Responses events for the socket (sans-IO): a turn's SSE answer in, text messages out.

Over the socket every Responses stream event travels as one JSON text message, the same JSON
the HTTP stream carries in its ``data:`` lines. Errors that the HTTP API answers with a status
and an ``{"error": …}`` body (a refused request, a spent key, an unreachable backend) become
one ``error`` event that carries the status too — the shape Codex reads as "this request
failed with HTTP N" (``{"type":"error","status":N,"error":{type,code,message,param}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from crosswire import ir
from crosswire.ir.errors import kind_for_status
from crosswire.protocols import openai_errors
from crosswire.protocols.openai_responses.stream_encode import ResponsesStreamEncoder
from crosswire.streams import SSEDecoder

#: Events after which a response is over (nothing more comes for it).
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
#: Terminal events whose response can be continued with ``previous_response_id``.
CONTINUABLE = frozenset({"response.completed", "response.incomplete"})


def error_event(
    status: int,
    message: str,
    *,
    etype: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if etype is None:
        etype = openai_errors.ERROR_TYPE.get(kind_for_status(status), "server_error")
    error: dict[str, Any] = {"type": etype, "code": code, "message": message, "param": param}
    event: dict[str, Any] = {"type": "error", "status": status, "error": error}
    if headers:
        error["headers"] = dict(headers)
        event["headers"] = dict(headers)
    return event


def http_error_event(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """An error answer of ``POST /v1/responses`` as the socket's ``error`` event."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    kept = {k: v for k, v in headers.items() if k.lower() in ("retry-after", "retry-after-ms")}
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return error_event(
            status,
            err["message"],
            etype=err.get("type") if isinstance(err.get("type"), str) else None,
            code=err.get("code") if isinstance(err.get("code"), str) else None,
            param=err.get("param") if isinstance(err.get("param"), str) else None,
            headers=kept,
        )
    decoded = openai_errors.decode(status, headers, body)
    return error_event(status, decoded.message, headers=kept)


def warmup_events(model: str, response_id: str) -> list[dict[str, Any]]:
    """Codex's warm-up (``generate: false``): a response with no output, made by the same
    encoder that writes converted streams, so its shape is the one the app sees otherwise."""
    encoder = ResponsesStreamEncoder(ir.Request(model=model), ir.Report())
    sse = encoder.encode(ir.ResponseStart(id=response_id, model=model)) + encoder.encode(
        ir.StreamFinish(finish=ir.Finish(reason="stop"))
    )
    return [json.loads(frame.data) for frame in SSEDecoder().feed(sse)]


class TurnEvents:
    """One turn's answer, fed as it arrives; says what to send and how the response ended."""

    def __init__(self, stream_id: str | None = None) -> None:
        self._decoder = SSEDecoder()
        self._stream_id = stream_id
        self.terminal: str | None = None
        self.response_id = ""
        self.output: list[Any] = []
        self._done_items: list[Any] = []

    def feed(self, data: bytes) -> list[str]:
        return self._texts(self._decoder.feed(data))

    def flush(self) -> list[str]:
        """End of the answer: a stream that stopped without a terminal event gets an error,
        so the app is never left waiting for a ``response.completed`` that will not come."""
        texts = self._texts(self._decoder.flush())
        if self.terminal is None:
            texts.append(
                self.add(error_event(502, "crosswire: the answer ended before it was complete"))
            )
        return texts

    def add(self, event: dict[str, Any], raw: str | None = None) -> str:
        """Note an event (its id, items, end) and return it as the text to send (``raw``, the
        event's own JSON text, goes out unchanged unless a ``stream_id`` must be added)."""
        kind = event.get("type")
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            self.response_id = response["id"]
        if kind == "response.output_item.done" and "item" in event:
            self._done_items.append(event["item"])
        if kind in TERMINAL and self.terminal is None:
            self.terminal = str(kind)
            if kind in CONTINUABLE:
                final = response.get("output") if isinstance(response, dict) else None
                self.output = list(final) if isinstance(final, list) and final else self._done_items
        if self._stream_id is not None:
            event = {**event, "stream_id": self._stream_id}
        elif raw is not None:
            return raw
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"))

    @property
    def continuable(self) -> bool:
        return self.terminal in CONTINUABLE

    def _texts(self, frames: list[Any]) -> list[str]:
        out: list[str] = []
        for frame in frames:
            data = frame.data.strip()
            if not data or data == "[DONE]":
                continue
            try:
                event = json.loads(data)
            except ValueError:
                continue  # not an event the app could read either
            if isinstance(event, dict):
                out.append(self.add(event, data))
        return out
