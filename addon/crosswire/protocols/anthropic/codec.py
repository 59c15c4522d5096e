"""The Anthropic Messages codec."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from crosswire import ir
from crosswire.protocols.anthropic import errors, request, response
from crosswire.protocols.anthropic.stream import MessagesStreamDecoder, MessagesStreamEncoder
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ModelInfo,
    Target,
    UpstreamCall,
)
from crosswire.protocols.common import dumps


class AnthropicCodec(Codec):
    name = "anthropic"

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, req: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(resp, req)

    def stream_encoder(
        self, call: ClientCall, req: ir.Request, report: ir.Report
    ) -> MessagesStreamEncoder:
        return MessagesStreamEncoder(req, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(error)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        return dumps({"input_tokens": input_tokens})

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = [
            {
                "type": "model",
                "id": m.id,
                "display_name": m.display_name or m.id,
                "created_at": created,
            }
            for m in models
        ]
        return dumps(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def encode_request(self, req: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
        return request.encode(req, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, req: ir.Request, report: ir.Report) -> MessagesStreamDecoder:
        return MessagesStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
