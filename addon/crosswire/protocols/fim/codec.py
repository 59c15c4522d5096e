"""Codestral FIM (``/v1/fim/completions``) and OpenAI-style ``/v1/completions`` with ``suffix``.

Both carry a fill-in-the-middle prompt (prefix + suffix) instead of messages; they differ in
how an answer's text is carried (``chat_shaped``). A chat request (messages, no prompt) routed
to one of these backends cannot be served: it gets a 400 in the app's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from crosswire import ir
from crosswire.protocols import usage_scan
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ProtocolName,
    Target,
    UpstreamCall,
    Wire,
)
from crosswire.protocols.fim import errors, mapping, request_decode, request_encode, response
from crosswire.protocols.fim.stream_decode import FimStreamDecoder
from crosswire.protocols.fim.stream_encode import FimStreamEncoder


class _FimFamily(Codec):
    path: ClassVar[str]
    chat_shaped: ClassVar[bool]
    wire = Wire(
        stream_terminators=(b"[DONE]",),
        max_tokens_keys=("max_tokens",),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), mapping.usage_in),
    )
    fim_native = True

    # ---- client side -------------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        return request_decode.decode(self.name, body)

    def encode_response(
        self, call: ClientCall, request: ir.Request, response_: ir.Response, report: ir.Report
    ) -> bytes:
        return response.encode(response_, request, self.chat_shaped)

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> FimStreamEncoder:
        return FimStreamEncoder(request, self.chat_shaped, call.dialect)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return errors.encode(call, error)

    # ---- backend side ------------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        return request_encode.encode(self.name, self.path, request, target, report)

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        return response.decode(body)

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> FimStreamDecoder:
        return FimStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return errors.decode(status, headers, body)


class FimCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "fim"
    path = "/fim/completions"
    chat_shaped = True


class CompletionsCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "openai-completions"
    path = "/completions"
    chat_shaped = False
