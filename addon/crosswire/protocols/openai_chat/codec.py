"""The OpenAI Chat Completions codec: OpenAI and every OpenAI-compatible server (vLLM,
llama.cpp, DeepSeek, Groq, OpenRouter, Ollama's ``/v1``, Mistral chat, Azure OpenAI).

Client side: the app speaks Chat Completions. Backend side: ``Target.dialect`` selects the
server's quirks (``dialects.py``).

Answers to an app carry two keys beyond OpenAI's Chat types, on a message or delta only when
the backend reasoned: ``reasoning_content`` (the reasoning text, DeepSeek-style, for apps that
show it) and ``thinking_blocks`` (signed or redacted thinking, so an app that echoes the
message back returns it intact to the backend that signed it; ``reasoning.py``). They are
crosswire's documented extension; the contract suite allows exactly these two
(``tests/contract/extensions.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

from crosswire import ir
from crosswire.ir.request import HINTS
from crosswire.protocols import openai_errors, usage_scan
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ModelInfo,
    Target,
    UpstreamCall,
    Wire,
)
from crosswire.protocols.common import dumps
from crosswire.protocols.openai_chat import (
    errors,
    mistral_out,
    request_decode,
    request_encode,
    response,
)
from crosswire.protocols.openai_chat import usage as _usage
from crosswire.protocols.openai_chat.stream_decode import ChatStreamDecoder
from crosswire.protocols.openai_chat.stream_encode import ChatStreamEncoder


class OpenAIChatCodec(Codec):
    name = "openai-chat"
    wire = Wire(
        stream_terminators=(b"[DONE]",),
        max_tokens_keys=("max_completion_tokens", "max_tokens"),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), _usage.usage_in),
    )
    #: The ``ir.request.HINTS`` this codec's encoder sends or itself notes as dropped.
    hints: ClassVar[frozenset[str]] = frozenset(HINTS)

    # ---- client side ---------------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request_decode.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, request: ir.Request, response_: ir.Response, report: ir.Report
    ) -> bytes:
        if call.dialect == "mistral":
            return mistral_out.encode_response(response_, request, report)
        return response.encode(response_, request, report)

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> ChatStreamEncoder:
        if call.dialect == "mistral":
            return mistral_out.MistralStreamEncoder(request, report)
        return ChatStreamEncoder(request, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return openai_errors.encode(error, call.dialect if call is not None else "openai")

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        """``GET /v1/models`` in OpenAI's shape (edge 89 in docs/edge-cases.md)."""
        now = int(time.time())
        return dumps(
            {
                "object": "list",
                "data": [
                    {"id": m.id, "object": "model", "created": now, "owned_by": m.owned_by}
                    for m in models
                ],
            }
        )

    # ---- backend side --------------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        return request_encode.encode(request, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> ChatStreamDecoder:
        return ChatStreamDecoder(report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
