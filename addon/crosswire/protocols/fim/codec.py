"""Codestral FIM (``/v1/fim/completions``) and OpenAI-style ``/v1/completions`` with ``suffix``:
one package skeleton wired by ``PackageCodec`` for two protocols.

Both carry a fill-in-the-middle prompt (prefix + suffix) instead of messages; they differ in
how an answer's text is carried (``mapping.CHAT_SHAPED``) and where the request goes
(``mapping.PATH``), which the modules read from ``ClientCall.protocol`` / ``Target.protocol``.
A chat request (messages, no prompt) routed to one of these backends cannot be served: it gets
a 400 in the app's shape.
"""

from __future__ import annotations

from typing import ClassVar

from crosswire.protocols import usage_scan
from crosswire.protocols.base import Package, PackageCodec, ProtocolName, Wire
from crosswire.protocols.fim import mapping


class _FimFamily(PackageCodec):
    wire = Wire(
        stream_terminators=(b"[DONE]",),
        max_tokens_keys=("max_tokens",),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), mapping.usage_in),
    )
    package = Package.of(__name__)
    fim_native = True


class FimCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "fim"


class CompletionsCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "openai-completions"
