"""The OpenAI Responses codec (``/v1/responses``), both directions: the package skeleton
wired by ``PackageCodec``.

Client side: the openai SDK's ``client.responses``, Codex CLI, the Agents SDK. Backend side:
OpenAI, Azure OpenAI (``dialect="azure"``) and Responses-compatible servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from crosswire.ir.request import HINTS
from crosswire.protocols import openai_wire, usage_scan
from crosswire.protocols.base import ClientCall, ModelInfo, Package, PackageCodec, Wire
from crosswire.protocols.common import dumps
from crosswire.protocols.openai_responses.response import usage_in


class OpenAIResponsesCodec(PackageCodec):
    name = "openai-responses"
    wire = Wire(
        stream_terminators=(b"response.completed", b"response.incomplete", b"response.failed"),
        max_tokens_keys=("max_output_tokens",),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), usage_in),
    )
    package = Package.of(__name__)
    #: The ``ir.request.HINTS`` this codec's encoder sends or itself notes as dropped.
    hints: ClassVar[frozenset[str]] = frozenset(HINTS)

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        """``POST /v1/responses/input_tokens``: ``{"object":"response.input_tokens",
        "input_tokens":N}`` (the SDK's ``InputTokenCountResponse``)."""
        return dumps({"object": "response.input_tokens", "input_tokens": input_tokens})

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        return openai_wire.models(models)
