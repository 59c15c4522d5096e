"""Ollama's native API, both directions: ``/api/chat`` and ``/api/generate``, NDJSON streams.

Tool-call arguments are JSON *objects* both ways (edge 30); calls carry an ``id`` only from
servers since 0.12.10, so decoders derive one when it is missing, and results name their tool
(``tool_name``). Images are raw base64 lists; ``think`` asks for reasoning (a boolean or a
level) and it comes back as ``thinking``; ``format`` is ``"json"`` or a JSON schema;
``options`` hold the sampling parameters; streams default to on and end with a ``done: true``
object carrying ``done_reason`` and the token counts (edge 8). The modules: ``mapping``
(tables), ``request_decode`` / ``request_encode``, ``response`` (whole answers),
``stream_decode`` / ``stream_encode``, ``errors``: the package skeleton, wired by
``PackageCodec``.
"""

from __future__ import annotations

from collections.abc import Sequence

from crosswire.protocols import usage_scan
from crosswire.protocols.base import ClientCall, ModelInfo, Package, PackageCodec, Wire
from crosswire.protocols.common import dumps
from crosswire.protocols.ollama.mapping import created_out


class OllamaCodec(PackageCodec):
    name = "ollama"
    wire = Wire(
        stream_terminators=(b'"done":true', b'"done": true'),
        probe_path="/api/tags",
        scan_usage=usage_scan.top_level_counts(("prompt_eval_count", "eval_count")),
    )
    package = Package.of(__name__)
    fim_native = True  # /api/generate takes a suffix

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
