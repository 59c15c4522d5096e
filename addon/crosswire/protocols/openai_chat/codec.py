"""The OpenAI Chat Completions codec: OpenAI and every OpenAI-compatible server."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from crosswire import ir
from crosswire.protocols import openai_errors as errors
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ModelInfo,
    Target,
    UpstreamCall,
)
from crosswire.protocols.common import dumps
from crosswire.protocols.openai_chat import request, response
from crosswire.protocols.openai_chat.stream import ChatStreamDecoder, ChatStreamEncoder


class OpenAIChatCodec(Codec):
    name = "openai-chat"

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, req: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(resp, req)

    def stream_encoder(
        self, call: ClientCall, req: ir.Request, report: ir.Report
    ) -> ChatStreamEncoder:
        return ChatStreamEncoder(req, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(error)

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
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

    def encode_request(self, req: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
        return request.encode(req, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, req: ir.Request, report: ir.Report) -> ChatStreamDecoder:
        return ChatStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
