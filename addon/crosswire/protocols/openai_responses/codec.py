"""The OpenAI Responses codec (``/v1/responses``)."""

from __future__ import annotations

from collections.abc import Mapping

from crosswire import ir
from crosswire.protocols import openai_errors
from crosswire.protocols.base import ClientCall, Codec, EncodedError, Target, UpstreamCall
from crosswire.protocols.common import dumps
from crosswire.protocols.openai_responses import request, response
from crosswire.protocols.openai_responses.stream import (
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
)


class OpenAIResponsesCodec(Codec):
    name = "openai-responses"

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, req: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(resp, req)

    def stream_encoder(
        self, call: ClientCall, req: ir.Request, report: ir.Report
    ) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(req, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return openai_errors.encode(error)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        return dumps({"object": "response.input_tokens", "input_tokens": input_tokens})

    def encode_request(self, req: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
        return request.encode(req, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, req: ir.Request, report: ir.Report) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return openai_errors.decode(status, headers, body)
