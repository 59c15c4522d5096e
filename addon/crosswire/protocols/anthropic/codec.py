"""The Anthropic Messages codec: the package skeleton wired by ``PackageCodec``.

Client side (Claude Code, the anthropic SDK): ``/v1/messages`` and
``/v1/messages/count_tokens`` bodies, whole and streamed answers, errors, the model list.
Backend side: ``POST /v1/messages`` with ``anthropic-version``, whole and streamed answers,
error bodies (429/529 kept).
"""

from __future__ import annotations

from collections.abc import Sequence

from crosswire.protocols import usage_scan
from crosswire.protocols.anthropic import mapping
from crosswire.protocols.anthropic import usage as _usage
from crosswire.protocols.base import ClientCall, ModelInfo, Package, PackageCodec, Wire
from crosswire.protocols.common import dumps

#: ``created_at`` of listed models: the list is crosswire's, not a release history.
MODELS_CREATED_AT = "2024-01-01T00:00:00Z"


class AnthropicCodec(PackageCodec):
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
    package = Package.of(__name__)
    requires_max_tokens = True

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
