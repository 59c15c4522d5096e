"""The Gemini codec: the package skeleton wired by ``PackageCodec``.

Client side: google-genai, Gemini CLI and REST apps calling
``/v1beta/models/{model}:generateContent|streamGenerateContent|countTokens`` (model and
stream flag come from the URL via routing). Backend side: generativelanguage.googleapis.com
(``Target.api_version``, default ``v1beta``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from crosswire.protocols import usage_scan
from crosswire.protocols.base import (
    ClientCall,
    ModelInfo,
    Package,
    PackageCodec,
    ProtocolName,
    Wire,
)
from crosswire.protocols.gemini import tokens
from crosswire.protocols.gemini.rawjson import dumps

#: What the model list advertises (https://ai.google.dev/api/models#Model).
SUPPORTED_METHODS: tuple[str, ...] = ("generateContent", "countTokens")


class GeminiCodec(PackageCodec):
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
    package = Package.of(__name__)

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
