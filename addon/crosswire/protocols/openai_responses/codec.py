"""The OpenAI Responses codec (``/v1/responses``), both directions.

Client side: the openai SDK's ``client.responses``, Codex CLI, the Agents SDK. Backend side:
OpenAI, Azure OpenAI (``dialect="azure"``) and Responses-compatible servers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

from crosswire import ir
from crosswire.ir.request import HINTS
from crosswire.protocols import usage_scan
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
from crosswire.protocols.openai_responses import (
    errors,
    request_decode,
    request_encode,
    response,
)
from crosswire.protocols.openai_responses import response as _response
from crosswire.protocols.openai_responses.stream_decode import ResponsesStreamDecoder
from crosswire.protocols.openai_responses.stream_encode import ResponsesStreamEncoder


class OpenAIResponsesCodec(Codec):
    name = "openai-responses"
    wire = Wire(
        stream_terminators=(b"response.completed", b"response.incomplete", b"response.failed"),
        max_tokens_keys=("max_output_tokens",),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), _response.usage_in),
    )
    #: The ``ir.request.HINTS`` this codec's encoder sends or itself notes as dropped.
    hints: ClassVar[frozenset[str]] = frozenset(HINTS)

    # ---- client side ----------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request_decode.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, req: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(resp, req, report)

    def stream_encoder(
        self, call: ClientCall, req: ir.Request, report: ir.Report
    ) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(req, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(error)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        """``POST /v1/responses/input_tokens``: ``{"object":"response.input_tokens",
        "input_tokens":N}`` (the SDK's ``InputTokenCountResponse``)."""
        return dumps({"object": "response.input_tokens", "input_tokens": input_tokens})

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

    # ---- backend side ---------------------------------------------------------------------

    def encode_request(self, req: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
        return request_encode.encode(req, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, req: ir.Request, report: ir.Report) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
