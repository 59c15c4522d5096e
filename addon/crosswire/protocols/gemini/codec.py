"""The Gemini ``Codec``: wiring of the modules of this package.

Client side: google-genai, Gemini CLI and REST apps calling
``/v1beta/models/{model}:generateContent|streamGenerateContent|countTokens`` (model and
stream flag come from the URL via routing). Backend side: generativelanguage.googleapis.com
(``Target.api_version``, default ``v1beta``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from crosswire.ir import Error, Report, Request, Response
from crosswire.protocols import usage_scan
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ModelInfo,
    ProtocolName,
    StreamDecoder,
    StreamEncoder,
    Target,
    UpstreamCall,
    Wire,
)
from crosswire.protocols.gemini import errors, request_decode, request_encode, response, tokens
from crosswire.protocols.gemini.rawjson import dumps
from crosswire.protocols.gemini.stream_decode import GeminiStreamDecoder
from crosswire.protocols.gemini.stream_encode import GeminiStreamEncoder

#: What the model list advertises (https://ai.google.dev/api/models#Model).
SUPPORTED_METHODS: tuple[str, ...] = ("generateContent", "countTokens")


class GeminiCodec(Codec):
    name: ClassVar[ProtocolName] = "gemini"
    wire = Wire(
        stream_terminators=(b"finishReason",),
        # Not a comment: google-genai (Python) parses every non-data line as JSON and the JS
        # SDK's parser only skips whitespace before ``data:``. A blank line both skip.
        sse_keepalive=b"\n",
        probe_path="/v1beta/models",
        credential_header="x-goog-api-key",
        scan_usage=usage_scan.json_objects(("usageMetadata",), tokens.usage_from_metadata),
    )

    # ---- client side --------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: Report) -> Request:
        return request_decode.decode_request(call, body, report)

    def encode_response(
        self, call: ClientCall, request: Request, response_: Response, report: Report
    ) -> bytes:
        return response.encode_response(request, response_, report)

    def stream_encoder(self, call: ClientCall, request: Request, report: Report) -> StreamEncoder:
        return GeminiStreamEncoder(call, request, report)

    def encode_error(self, call: ClientCall | None, error: Error) -> EncodedError:
        return errors.encode_error(error)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        return dumps({"totalTokens": input_tokens})

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        return dumps(
            {
                "models": [
                    {
                        "name": f"models/{m.id.removeprefix('models/')}",
                        "displayName": m.display_name or m.id,
                        "description": f"served through crosswire ({m.owned_by})",
                        "supportedGenerationMethods": list(SUPPORTED_METHODS),
                    }
                    for m in models
                ]
            }
        )

    # ---- backend side -------------------------------------------------------------------

    def encode_request(self, request: Request, target: Target, report: Report) -> UpstreamCall:
        return request_encode.encode_request(request, target, report)

    def decode_response(self, body: bytes, report: Report) -> Response:
        return response.decode_response(body, report)

    def stream_decoder(self, request: Request, report: Report) -> StreamDecoder:
        return GeminiStreamDecoder(request, report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> Error:
        return errors.decode_error(status, headers, body)
