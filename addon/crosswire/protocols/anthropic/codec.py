"""The Anthropic Messages codec: the ``Codec`` contract wired to this package's modules.

Client side (Claude Code, the anthropic SDK): ``/v1/messages`` and
``/v1/messages/count_tokens`` bodies, whole and streamed answers, errors, the model list.
Backend side: ``POST /v1/messages`` with ``anthropic-version``, whole and streamed answers,
error bodies (429/529 kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crosswire import ir
from crosswire.protocols import usage_scan
from crosswire.protocols.anthropic import errors, mapping, request_decode, request_encode, response
from crosswire.protocols.anthropic import usage as _usage
from crosswire.protocols.anthropic.stream_decode import MessagesStreamDecoder
from crosswire.protocols.anthropic.stream_encode import MessagesStreamEncoder
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

#: ``created_at`` of listed models: the list is crosswire's, not a release history.
MODELS_CREATED_AT = "2024-01-01T00:00:00Z"


class AnthropicCodec(Codec):
    name = "anthropic"
    wire = Wire(
        stream_terminators=(b"message_stop",),
        sse_keepalive=b'event: ping\ndata: {"type": "ping"}\n\n',  # as the API itself sends
        max_tokens_keys=("max_tokens",),
        probe_path="/v1/models",
        probe_headers={"anthropic-version": mapping.ANTHROPIC_VERSION},
        credential_header="x-api-key",
        scan_usage=usage_scan.json_objects(("usage",), _usage.usage_in),
    )
    requires_max_tokens = True

    # ---- client side -----------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request_decode.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, request: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(resp, request, report)

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> MessagesStreamEncoder:
        return MessagesStreamEncoder(request, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(error)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        return dumps({"input_tokens": input_tokens})

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        """``GET /v1/models`` in Anthropic's shape (edge 89 in docs/edge-cases.md)."""
        data = [
            {
                "type": "model",
                "id": m.id,
                "display_name": m.display_name or m.id,
                "created_at": MODELS_CREATED_AT,
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

    # ---- backend side ----------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        return request_encode.encode(request, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> MessagesStreamDecoder:
        return MessagesStreamDecoder(report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
