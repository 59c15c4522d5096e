"""The contract every wire protocol implements, both directions.

A protocol package knows its own wire format and the IR, never another protocol. Conversion
A→B is ``A.decode_request`` → IR → ``B.encode_request`` on the way up, and
``B.decode_response`` / ``B.stream_decoder`` → IR → ``A.encode_response`` /
``A.stream_encoder`` on the way down. Sans-IO: bytes in, bytes out, no mitmproxy.

Client side ("the app speaks this"):  decode_request, encode_response, stream_encoder,
encode_error, encode_count_tokens, encode_models.
Backend side ("the upstream speaks this"): encode_request, decode_response, stream_decoder,
decode_error.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, get_args

from crosswire.ir import Error, Event, Report, Request, Response, Usage
from crosswire.values import value

ProtocolName = Literal[
    "openai-chat",
    "openai-responses",
    "anthropic",
    "gemini",
    "fim",
    "openai-completions",
    "ollama",
]
PROTOCOLS: tuple[ProtocolName, ...] = get_args(ProtocolName)

#: generate = the main model call; count_tokens and models are side endpoints.
Endpoint = Literal["generate", "count_tokens", "models"]


@value
class ClientCall:
    """What routing learned from the app's request line, before the body is read.

    ``variant`` distinguishes endpoints of one protocol that share a codec: Ollama
    ``chat``/``generate``; Gemini ``sse``/``json-array`` streaming; FIM ``fim``/``completions``.
    ``dialect`` is the app-side flavour of a shared protocol, read from the host the app
    called: ``mistral`` for api.mistral.ai / codestral.mistral.ai (its SDK wants each streamed
    tool call whole and Mistral's error shape), ``openai`` otherwise.
    """

    protocol: ProtocolName
    endpoint: Endpoint
    method: str = "POST"
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    stream: bool | None = None
    variant: str | None = None
    dialect: str = "openai"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a backend encoder needs from the config.

    ``dialect`` names an OpenAI-compatible server's quirks: ``openai`` (default), ``mistral``
    (9-character alphanumeric tool ids, ``random_seed``), ``azure`` (deployment URLs),
    ``deepseek``/``vllm`` (``reasoning_content`` echoed back).
    """

    protocol: ProtocolName
    model: str
    dialect: str = "openai"
    default_max_tokens: int = 4096
    max_output_tokens: int | None = None
    api_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamCall:
    """An encoded request: ``path`` is appended to the backend's ``base_url`` path;
    ``headers`` are protocol headers (content-type, anthropic-version), never credentials."""

    path: str
    body: bytes
    stream: bool
    method: str = "POST"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedError:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class StreamDecoder(Protocol):
    """Upstream bytes → IR events, incrementally; any chunk split gives the same events."""

    def feed(self, data: bytes) -> list[Event]: ...

    def flush(self) -> list[Event]:
        """At end of body. A stream that ended without its terminator yields a
        ``StreamError`` (an EOF is never a clean stop)."""
        ...


class StreamEncoder(Protocol):
    """IR events → the client's stream bytes. ``encode`` returns ``b""`` when an event has no
    wire form (a ``ping``-less protocol, a buffered delta)."""

    content_type: str

    def encode(self, event: Event) -> bytes: ...

    def close(self) -> bytes:
        """At end of stream: whatever must still be written (nothing after a Finish)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    id: str
    owned_by: str = "crosswire"
    display_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Wire:
    """What the engine must know of a protocol's wire *without* decoding a body: how a
    same-protocol request is retargeted, authenticated, clamped and accounted.

    Each codec package owns its descriptor (``Codec.wire``), so a new protocol brings its wire
    facts with it instead of adding a row to tables spread over the engine.
    """

    #: Bytes a complete stream always contains near its end; a passthrough stream without any
    #: of them was cut short (the app is told in its own framing).
    stream_terminators: tuple[bytes, ...] = ()
    #: What keeps an SSE answer to an app of this protocol alive while its upstream is silent,
    #: sent only between events: an SSE comment, which SSE parsers skip (b"": none).
    sse_keepalive: bytes = b": keep-alive\n\n"
    #: Top-level request fields that a backend's ``max_output_tokens`` clamps in passthrough.
    max_tokens_keys: tuple[str, ...] = ()
    #: The part of the app's path that a backend's ``base_url`` replaces: the official SDKs put
    #: the API version there (OpenAI-style base URLs end in ``/v1``).
    sdk_base_prefix: str = ""
    #: A cheap authenticated GET (relative to ``base_url``): probes a disabled key.
    probe_path: str = "/models"
    #: Extra headers a bare authenticated call needs (Anthropic's version header).
    probe_headers: Mapping[str, str] = field(default_factory=dict)
    #: Where a pooled key goes: ``authorization`` means ``Bearer <key>``.
    credential_header: str = "authorization"
    #: The token usage found in a same-protocol body (whole, or a stream's head and tail),
    #: read by the codec's own usage reader; ``None`` when none is found.
    scan_usage: Callable[[bytes], Usage] = field(default=lambda data: Usage())

    def credential(self, secret: str, dialect: str) -> tuple[str, str]:
        """The (header, value) that carries ``secret`` to a backend of this protocol."""
        if dialect == "azure":
            return "api-key", secret
        if self.credential_header == "authorization":
            return "authorization", f"Bearer {secret}"
        return self.credential_header, secret


class Codec(ABC):
    """One wire protocol. Instances are stateless and shared; per-stream state lives in the
    decoder/encoder objects they create."""

    name: ClassVar[ProtocolName]
    #: The wire facts the engine uses without decoding (see ``Wire``).
    wire: ClassVar[Wire] = Wire()
    content_type: ClassVar[str] = "application/json"
    #: The ``ir.request.HINTS`` the encoder sends or itself notes as dropped; the pipeline
    #: notes the others as dropped.
    hints: ClassVar[frozenset[str]] = frozenset()
    #: The wire has no default output limit: the pipeline fills ``Target.default_max_tokens``.
    requires_max_tokens: ClassVar[bool] = False
    #: The backend takes a fill-in-the-middle prompt itself (no chat bridge).
    fim_native: ClassVar[bool] = False

    # ---- client side -----------------------------------------------------------------------

    @abstractmethod
    def decode_request(self, call: ClientCall, body: bytes, report: Report) -> Request:
        """Parse the app's body. Raises ``ClientRequestError`` (→ 400 in this protocol's shape)
        for bad JSON, wrong types, or content this IR cannot hold."""

    @abstractmethod
    def encode_response(
        self, call: ClientCall, request: Request, response: Response, report: Report
    ) -> bytes:
        """A whole answer in this protocol."""

    @abstractmethod
    def stream_encoder(self, call: ClientCall, request: Request, report: Report) -> StreamEncoder:
        """A fresh encoder for one streamed answer."""

    @abstractmethod
    def encode_error(self, call: ClientCall | None, error: Error) -> EncodedError:
        """An error answer (status, body) in this protocol's error shape."""

    def encode_count_tokens(self, call: ClientCall, input_tokens: int) -> bytes:
        """The answer of this protocol's token-counting endpoint."""
        raise NotImplementedError

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        """The answer of this protocol's model-listing endpoint."""
        raise NotImplementedError

    # ---- backend side ----------------------------------------------------------------------

    @abstractmethod
    def encode_request(self, request: Request, target: Target, report: Report) -> UpstreamCall:
        """The upstream request, from a request the pipeline has prepared (model, tool names,
        ``max_tokens`` already right for ``target``). Records every dropped/clamped/invented
        field in ``report``; raises ``UnsupportedFeature`` for content the target cannot carry
        at all."""

    @abstractmethod
    def decode_response(self, body: bytes, report: Report) -> Response:
        """A whole upstream answer. Raises ``UpstreamProtocolError`` when unparsable."""

    @abstractmethod
    def stream_decoder(self, request: Request, report: Report) -> StreamDecoder:
        """A fresh decoder for one upstream stream."""

    @abstractmethod
    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> Error:
        """An upstream error answer (any body, even HTML or empty) as an IR ``Error``."""


# ---- the package skeleton ------------------------------------------------------------------
#
# Every protocol package has the same modules with the same entry points (docs/codecs.md), so
# a reader who knows one package finds their way in all of them. The protocols below state
# those entry points; tests/unit/protocols/test_skeleton.py checks every package against them.


class RequestDecodeModule(Protocol):
    """``request_decode.py``: the app's body → IR."""

    def decode(self, call: ClientCall, body: bytes, report: Report) -> Request: ...


class RequestEncodeModule(Protocol):
    """``request_encode.py``: IR → the upstream request."""

    def encode(self, request: Request, target: Target, report: Report) -> UpstreamCall: ...


class ResponseModule(Protocol):
    """``response.py``: whole answers, both ways."""

    def decode(self, body: bytes, report: Report) -> Response: ...

    def encode(
        self, call: ClientCall, request: Request, response: Response, report: Report, /
    ) -> bytes: ...


class StreamDecodeModule(Protocol):
    """``stream_decode.py``: a fresh decoder for one upstream stream."""

    def decoder(self, request: Request, report: Report) -> StreamDecoder: ...


class StreamEncodeModule(Protocol):
    """``stream_encode.py``: a fresh encoder for one streamed answer to the app."""

    def encoder(self, call: ClientCall, request: Request, report: Report) -> StreamEncoder: ...


class ErrorsModule(Protocol):
    """``errors.py``: upstream error answers in, the app's error answers out."""

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> Error: ...

    def encode(self, call: ClientCall | None, error: Error) -> EncodedError: ...


#: The skeleton: each module of a protocol package and the protocol its module follows.
SKELETON: Mapping[str, type] = {
    "request_decode": RequestDecodeModule,
    "request_encode": RequestEncodeModule,
    "response": ResponseModule,
    "stream_decode": StreamDecodeModule,
    "stream_encode": StreamEncodeModule,
    "errors": ErrorsModule,
}


@dataclass(frozen=True, slots=True)
class Package:
    """The skeleton modules of one protocol package."""

    request_decode: RequestDecodeModule
    request_encode: RequestEncodeModule
    response: ResponseModule
    stream_decode: StreamDecodeModule
    stream_encode: StreamEncodeModule
    errors: ErrorsModule

    @classmethod
    def of(cls, codec_module: str) -> Package:
        """The skeleton modules beside ``codec_module`` (a package's ``codec.py`` passes its
        ``__name__``): a package without one of them fails at import, not at the first call.
        ``tests/unit/protocols/test_skeleton.py`` checks each entry point's signature."""
        package = codec_module.rpartition(".")[0]
        modules: dict[str, Any] = {
            name: importlib.import_module(f"{package}.{name}") for name in SKELETON
        }
        return cls(**modules)


class PackageCodec(Codec):
    """A codec wired from its package's skeleton modules: a package's ``codec.py`` declares
    ``name``, ``wire``, ``package = Package.of(__name__)``, its flags and only what differs
    (the model-list and token-count answers, one small object each)."""

    package: ClassVar[Package]

    def decode_request(self, call: ClientCall, body: bytes, report: Report) -> Request:
        return self.package.request_decode.decode(call, body, report)

    def encode_response(
        self, call: ClientCall, request: Request, response: Response, report: Report
    ) -> bytes:
        return self.package.response.encode(call, request, response, report)

    def stream_encoder(self, call: ClientCall, request: Request, report: Report) -> StreamEncoder:
        return self.package.stream_encode.encoder(call, request, report)

    def encode_error(self, call: ClientCall | None, error: Error) -> EncodedError:
        return self.package.errors.encode(call, error)

    def encode_request(self, request: Request, target: Target, report: Report) -> UpstreamCall:
        return self.package.request_encode.encode(request, target, report)

    def decode_response(self, body: bytes, report: Report) -> Response:
        return self.package.response.decode(body, report)

    def stream_decoder(self, request: Request, report: Report) -> StreamDecoder:
        return self.package.stream_decode.decoder(request, report)

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> Error:
        return self.package.errors.decode(status, headers, body)
