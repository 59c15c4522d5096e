"""One exchange's conversion: the only place that holds two codecs at once.

decode(client) → IR → ``pipeline`` steps (model, orphans, tool names, FIM bridge, clamp) →
encode(backend) on the way up; decode(backend) → IR → the steps undone, a missing input count
estimated → encode(client) on the way down — whole or event by event. Sans-IO: the addon feeds
it bytes; ``crosswire convert`` uses the very same path offline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping

from crosswire import ir
from crosswire.ir.accumulate import Accumulator, replay
from crosswire.ir.estimate import estimate_input_tokens
from crosswire.ir.request import HINTS
from crosswire.pipeline import EventFilter, Pipeline
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    StreamDecoder,
    StreamEncoder,
    Target,
    UpstreamCall,
)
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.streams import SSEEventDecoder

#: Content types of streamed answers (SSE, Ollama's NDJSON).
STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl")


class Exchange:
    """A converted request and, later, its answer."""

    def __init__(
        self,
        *,
        call: ClientCall,
        client: Codec,
        backend: Codec,
        target: Target,
        report: ir.Report | None = None,
    ) -> None:
        self.call = call
        self.client = client
        self.backend = backend
        self.target = target
        self.report = report if report is not None else ir.Report()
        self.request: ir.Request | None = None  # as the app sent it
        self.upstream_request: ir.Request | None = None  # as sent upstream (after the steps)
        self._pipeline = Pipeline(backend, target, self.report)
        self._estimate: int | None = None
        self.last_usage: ir.Usage | None = None
        self.last_finish: ir.Finish | None = None
        self.last_model: str | None = None

    # ---- request ------------------------------------------------------------------------

    def decode(self, body: bytes) -> ir.Request:
        request = self.client.decode_request(self.call, body, self.report)
        if self.call.stream is not None and request.stream != self.call.stream:
            request = dataclasses.replace(request, stream=self.call.stream)
        if self.call.model and not request.model:
            request = dataclasses.replace(request, model=self.call.model)
        self.request = request
        return request

    def encode(self, request: ir.Request | None = None) -> UpstreamCall:
        """The upstream request for ``request`` (default: the decoded one)."""
        request = request or self.request
        assert request is not None, "decode() first"
        prepared = self._pipeline.up(request)
        self.upstream_request = prepared
        upstream = self.backend.encode_request(prepared, self.target, self.report)
        unsupported = [
            name
            for protocol, fields in request.native.items()
            if protocol != self.backend.name
            for name in fields
        ]
        unsupported += [
            name
            for name in HINTS
            if getattr(request, name) is not None and name not in self.backend.hints
        ]
        for name in unsupported:
            self.report.dropped(name, f"{self.backend.name} has no equivalent")
        return upstream

    # ---- whole answers --------------------------------------------------------------------

    def response(self, body: bytes, content_type: str = "application/json") -> bytes:
        """The client's whole answer (or, for a streaming client whose upstream answered
        whole, the client's complete stream) from the upstream's body."""
        assert self.request is not None
        if content_type.startswith(STREAM_TYPES):
            decoder = self.backend.stream_decoder(self._up_request, self.report)
            acc = Accumulator()
            acc.extend(decoder.feed(body))
            acc.extend(decoder.flush())
            if acc.error is not None and acc.finish is None:
                raise StreamFailed(acc.error)
            response = acc.response()
        else:
            response = self.backend.decode_response(body, self.report)
        if not response.model:
            response = dataclasses.replace(response, model=self.target.model)
        response = self.restore(response)
        self.last_usage = response.usage
        self.last_finish = response.finish
        self.last_model = response.model
        if self.request.stream:
            encoder = self.client.stream_encoder(self.call, self.request, self.report)
            return b"".join(encoder.encode(e) for e in replay(response)) + encoder.close()
        return self.client.encode_response(self.call, self.request, response, self.report)

    def restore(self, response: ir.Response) -> ir.Response:
        """Undo the pipeline's steps on a whole answer."""
        return self._pipeline.down(response)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> EncodedError:
        """An upstream error answer in the client's shape (status kept: 429 stays 429)."""
        err = self.backend.decode_error(status, headers, body)
        return self.client.encode_error(self.call, err)

    # ---- streams --------------------------------------------------------------------------

    def stream(self) -> StreamConverter:
        assert self.request is not None
        decoder = self.backend.stream_decoder(self._up_request, self.report)
        encoder = self.client.stream_encoder(self.call, self.request, self.report)
        transforms = self._pipeline.stream_filters()
        return StreamConverter(decoder, encoder, transforms, self.estimate, self.target.model)

    def estimate(self) -> int:
        if self._estimate is None:
            assert self.request is not None
            self._estimate = estimate_input_tokens(self.request)
        return self._estimate

    @property
    def _up_request(self) -> ir.Request:
        request = self.upstream_request or self.request
        assert request is not None
        return request


class StreamFailed(Exception):
    def __init__(self, error: ir.Error) -> None:
        super().__init__(error.message)
        self.error = error


#: Text deltas a stream's decoder may fail to carry as literals before a stream stops trying.
LITERAL_MISSES = 8


class StreamConverter:
    """Upstream stream bytes in, client stream bytes out, one network chunk at a time.

    Never raises: a decoder failure becomes a ``StreamError`` in the client's framing and the
    rest of the upstream is ignored. ``usage`` and ``finish`` are tracked for accounting.
    """

    __slots__ = (
        "_decoder",
        "_encoder",
        "_estimate",
        "_literal",
        "_model",
        "_transforms",
        "done",
        "error",
        "finish",
        "model",
        "started",
        "usage",
    )

    def __init__(
        self,
        decoder: StreamDecoder,
        encoder: StreamEncoder,
        transforms: list[EventFilter],
        estimate: Callable[[], int],
        model: str = "",
    ) -> None:
        self._model = model
        self._decoder = decoder
        self._encoder = encoder
        self._transforms = transforms
        self._estimate = estimate
        #: Both ends when text deltas may skip decoding and encoding (``protocols/literal``):
        #: both can, and no pipeline filter needs to see the events.
        self._literal: tuple[SSEEventDecoder, EventEncoder] | None = (
            (decoder, encoder)
            if isinstance(decoder, SSEEventDecoder)
            and decoder.gives_literal_text
            and isinstance(encoder, EventEncoder)
            and encoder.takes_literal_text
            and not transforms
            else None
        )
        self.done = False
        self.started = False
        self.finish: ir.Finish | None = None
        self.error: ir.Error | None = None
        self.usage = ir.Usage()
        #: The answering model, as the upstream named it.
        self.model: str | None = None

    @property
    def content_type(self) -> str:
        return self._encoder.content_type

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        literal = self._literal
        if literal is None:
            return self._feed(data)
        decoder, encoder = literal
        head = b""
        if not decoder.idle():  # the end of an event that began in an earlier chunk
            end = data.find(b"\n\n") + 2
            if end < 2:
                return self._feed(data)
            head, data = self._feed(data[:end]), data[end:]
        return head + self._feed_frames(decoder, encoder, data) if data else head

    def _feed_frames(self, decoder: SSEEventDecoder, encoder: EventEncoder, data: bytes) -> bytes:
        """``data`` event by event: a plain text delta straight from its literal, anything else
        (and a partial event at the end) through ``_feed`` — the same bytes either way."""
        frames = data.split(b"\n\n")
        rest = frames.pop()
        out = []
        idle = decoder.idle()  # and after a carried frame still: it changes no decoder state
        for i, frame in enumerate(frames):
            if idle and self.started and not self.done:
                found = decoder.literal_text(frame)
                if found is not None:
                    written = encoder.text_literal(*found)
                    if written is not None:
                        out.append(written)
                        continue
                elif decoder.literal_misses >= LITERAL_MISSES:
                    # This upstream spells its text deltas otherwise: the full path from here
                    # on, at its own cost only.
                    self._literal = None
                    out.append(self._feed(b"\n\n".join([*frames[i:], rest])))
                    return b"".join(out)
            out.append(self._feed(frame + b"\n\n"))
            idle = decoder.idle()
        if rest:
            out.append(self._feed(rest))
        return b"".join(out)

    def _feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        try:
            events = self._decoder.feed(data)
        except ir.ConversionError as exc:
            events = [ir.StreamError(error=exc.to_error())]
        except Exception as exc:  # a codec bug must not kill the stream silently
            events = [
                ir.StreamError(
                    error=ir.Error.of("api_error", f"conversion failed: {type(exc).__name__}")
                )
            ]
        return self._emit(events) if events else b""

    def close(self) -> bytes:
        out = b""
        if not self.done:
            try:
                events = self._decoder.flush()
            except ir.ConversionError as exc:
                events = [ir.StreamError(error=exc.to_error())]
            except Exception as exc:
                events = [
                    ir.StreamError(
                        error=ir.Error.of("api_error", f"conversion failed: {type(exc).__name__}")
                    )
                ]
            out = self._emit(events)
        try:
            return out + self._encoder.close()
        except Exception:
            return out

    def fail(self, error: ir.Error) -> bytes:
        """End the client's stream with ``error`` (the upstream connection broke)."""
        if self.done:
            return b""
        return self._emit([ir.StreamError(error=error)])

    def _emit(self, events: list[ir.Event]) -> bytes:
        for transform in self._transforms:
            events = [out for e in events for out in transform(e)]
        chunks = []
        encode = self._encoder.encode
        for event in events:
            if self.done:
                break
            match event:
                case ir.ResponseStart():
                    self.started = True
                    self.model = event.model or self.model
                    if not event.model and self._model:
                        event = dataclasses.replace(event, model=self._model)
                    if event.usage.input_tokens is None:
                        event = dataclasses.replace(
                            event,
                            usage=dataclasses.replace(
                                event.usage, input_tokens=self._estimate(), estimated=True
                            ),
                        )
                    self.usage = self.usage.merged(event.usage)
                case ir.UsageUpdate():
                    self.usage = self.usage.merged(event.usage)
                case ir.StreamFinish():
                    self.usage = self.usage.merged(event.usage)
                    self.finish = event.finish
                    self.done = True
                case ir.StreamError():
                    self.error = event.error
                    self.done = True
            try:
                chunks.append(encode(event))
            except Exception as exc:
                self.done = True
                self.error = ir.Error.of("api_error", f"conversion failed: {type(exc).__name__}")
                with contextlib.suppress(Exception):
                    chunks.append(encode(ir.StreamError(error=self.error)))
        return b"".join(chunks)


@functools.lru_cache(maxsize=256)
def infer_dialect(protocol: str, base_url: str, configured: str | None) -> str:
    """The OpenAI-compatible server's dialect from its URL, unless the config says (remembered
    per backend URL: it is asked on every request)."""
    if configured:
        return configured
    host = base_url.split("://", 1)[-1].split("/", 1)[0].lower()
    if protocol not in ("openai-chat", "openai-responses"):
        return "openai"
    if host.endswith("mistral.ai"):
        return "mistral"
    if host.endswith(".openai.azure.com") or host.endswith(".cognitiveservices.azure.com"):
        return "azure"
    if "deepseek" in host:
        return "deepseek"
    if host == "api.openai.com":
        return "openai"
    return "generic"
