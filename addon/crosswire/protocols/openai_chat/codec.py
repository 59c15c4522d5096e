"""The OpenAI Chat Completions codec: OpenAI and every OpenAI-compatible server (vLLM,
llama.cpp, DeepSeek, Groq, OpenRouter, Ollama's ``/v1``, Mistral chat, Azure OpenAI).

Client side: the app speaks Chat Completions; an app on Mistral's SDK (``ClientCall.dialect``
``mistral``) gets its answers from ``mistral_out``. Backend side: ``Target.dialect`` selects the
server's quirks (``dialects.py``).

Answers to an app carry two keys beyond OpenAI's Chat types, on a message or delta only when
the backend reasoned: ``reasoning_content`` (the reasoning text, DeepSeek-style, for apps that
show it) and ``thinking_blocks`` (signed or redacted thinking, so an app that echoes the
message back returns it intact to the backend that signed it; ``reasoning.py``). They are
crosswire's documented extension; the contract suite allows exactly these two
(``tests/contract/extensions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from crosswire import ir
from crosswire.ir.request import HINTS
from crosswire.protocols import openai_wire, usage_scan
from crosswire.protocols.base import (
    ClientCall,
    ModelInfo,
    Package,
    PackageCodec,
    StreamEncoder,
    Wire,
)
from crosswire.protocols.openai_chat import mistral_out
from crosswire.protocols.openai_chat import usage as _usage


class OpenAIChatCodec(PackageCodec):
    name = "openai-chat"
    wire = Wire(
        stream_terminators=(b"[DONE]",),
        max_tokens_keys=("max_completion_tokens", "max_tokens"),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), _usage.usage_in),
    )
    package = Package.of(__name__)
    #: The ``ir.request.HINTS`` this codec's encoder sends or itself notes as dropped.
    hints: ClassVar[frozenset[str]] = frozenset(HINTS)

    def encode_response(
        self, call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
    ) -> bytes:
        if call.dialect == "mistral":
            return mistral_out.encode_response(response, request, report)
        return super().encode_response(call, request, response, report)

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> StreamEncoder:
        if call.dialect == "mistral":
            return mistral_out.MistralStreamEncoder(request, report)
        return super().stream_encoder(call, request, report)

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        return openai_wire.models(models)
