"""Ollama's native API, both directions: ``/api/chat`` and ``/api/generate``, NDJSON streams.

Tool-call arguments are JSON *objects* both ways (edge 30); calls carry an ``id`` only from
servers since 0.12.10, so decoders derive one when it is missing, and results name their tool
(``tool_name``). Images are raw base64 lists; ``think`` asks for reasoning (a boolean or a
level) and it comes back as ``thinking``; ``format`` is ``"json"`` or a JSON schema;
``options`` hold the sampling parameters; streams default to on and end with a ``done: true``
object carrying ``done_reason`` and the token counts (edge 8). The modules: ``mapping``
(tables), ``request_decode`` / ``request_encode``, ``response`` (whole answers),
``stream_decode`` / ``stream_encode``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crosswire import ir
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
from crosswire.protocols.ollama import errors, request_decode, request_encode, response
from crosswire.protocols.ollama.mapping import created_out
from crosswire.protocols.ollama.stream_decode import OllamaStreamDecoder
from crosswire.protocols.ollama.stream_encode import OllamaStreamEncoder


class OllamaCodec(Codec):
    name = "ollama"
    wire = Wire(
        stream_terminators=(b'"done":true', b'"done": true'),
        probe_path="/api/tags",
        scan_usage=usage_scan.top_level_counts(("prompt_eval_count", "eval_count")),
    )
    fim_native = True  # /api/generate takes a suffix

    # ---- client side -------------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request_decode.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, request: ir.Request, resp: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(call, resp, report)

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> OllamaStreamEncoder:
        return OllamaStreamEncoder(call, request, report)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(error)

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        """``GET /api/tags`` in Ollama's shape (sizes and digests are unknown here)."""
        now = created_out(None)
        return dumps(
            {
                "models": [
                    {
                        "name": m.id,
                        "model": m.id,
                        "modified_at": now,
                        "size": 0,
                        "digest": "",
                        "details": {
                            "format": "",
                            "family": "",
                            "parameter_size": "",
                            "quantization_level": "",
                        },
                    }
                    for m in models
                ]
            }
        )

    # ---- backend side ------------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        return request_encode.encode(request, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body, report)

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> OllamaStreamDecoder:
        return OllamaStreamDecoder(report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)
