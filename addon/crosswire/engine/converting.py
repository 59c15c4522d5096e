"""Serving an answer of another protocol: decoded to the IR and encoded in the app's protocol.

Streams are converted chunk by chunk as mitmproxy receives them (``StreamConverter``: any split
of the bytes gives the same output); a whole answer — or a whole upstream answer to a streamed
request, replayed as the app's stream — is converted in the ``response`` hook; an upstream
error becomes the app's error shape with its status kept (429 stays 429).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mitmproxy import http

from crosswire import ir
from crosswire.convert import Exchange, StreamConverter, StreamFailed
from crosswire.engine import answer, headers, redact, streaming
from crosswire.engine.record import UPSTREAM_BODY
from crosswire.engine.streaming import StreamCallable

if TYPE_CHECKING:
    from crosswire.engine.serving import Serving

log = logging.getLogger("crosswire")


class Converting:
    def __init__(self, serving: Serving, exchange: Exchange) -> None:
        self.serving = serving
        self.exchange = exchange
        self.converter: StreamConverter | None = None
        self.upstream_copy: bytearray | None = None
        self.client_copy: bytearray | None = None
        self.usage: ir.Usage | None = None  # of a whole answer, once converted

    def stream(self, flow: http.HTTPFlow) -> StreamCallable | None:
        serving = self.serving
        assert flow.response is not None
        if not streaming.is_stream(
            flow.response, serving.candidate.protocol, serving.candidate.url
        ):
            return None  # a whole answer to a stream request: converted (and replayed) later
        converter = self.converter = self.exchange.stream()
        streaming.reframe(flow, converter.content_type)
        streaming.keepalive(flow, serving.client_protocol, serving.keepalive)
        dropped = serving.record.report.header_value()
        if dropped:
            flow.response.headers["x-crosswire-dropped"] = dropped
        up = self.upstream_copy = bytearray() if serving.keep_copies else None
        down = self.client_copy = bytearray() if serving.keep_copies else None
        limit = serving.copy_limit

        def stream(data: bytes) -> bytes | list[bytes]:
            try:
                out = converter.feed(data) if data else converter.close()
            except Exception:  # never let a converter bug cut the stream silently
                log.exception("crosswire: stream conversion failed")
                out = converter.fail(
                    ir.Error.of("api_error", "crosswire: stream conversion failed")
                )
            if up is not None and len(up) < limit:
                up.extend(data[: limit - len(up)])
            if down is not None and len(down) < limit:
                down.extend(out[: limit - len(down)])
            if data and not out:
                return []  # never b"" mid-stream: it ends a chunked body (docs/mitmproxy.md §4)
            return out

        return stream

    def closing(self, error: ir.Error) -> bytes:
        """The app protocol's error event that ends a broken stream."""
        if self.converter is None:
            return b""
        return self.converter.fail(error) + self.converter.close()

    def finish_stream(self, flow: http.HTTPFlow) -> ir.Usage | None:
        converter = self.converter
        if converter is None:
            return None
        if self.client_copy is not None and flow.response is not None:
            flow.response.content = bytes(self.client_copy)
        if self.upstream_copy is not None:
            flow.metadata[UPSTREAM_BODY] = bytes(self.upstream_copy)
        if converter.error is not None:
            flow.marked = ":warning:"
            self.serving.record.error = converter.error
        if converter.finish is not None:
            self.serving.record.finish = converter.finish.reason
        self.serving.record.response_model = converter.model
        return converter.usage

    def whole(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        assert resp is not None
        body = resp.content or b""
        flow.metadata[UPSTREAM_BODY] = body[: self.serving.copy_limit]
        exchange = self.exchange
        try:
            out = exchange.response(body, resp.headers.get("content-type", "application/json"))
        except StreamFailed as exc:
            self._fail(flow, exc.error)
            return
        except ir.ConversionError as exc:
            self._fail(flow, exc.to_error())
            return
        resp.content = out
        resp.headers["content-type"] = self._content_type()
        self._dropped_header(resp)
        if exchange.last_finish is not None:
            self.serving.record.finish = exchange.last_finish.reason
        self.serving.record.response_model = exchange.last_model
        self.usage = exchange.last_usage

    def whole_usage(self, flow: http.HTTPFlow) -> ir.Usage | None:
        return self.usage

    def error(self, flow: http.HTTPFlow) -> bytes:
        resp = flow.response
        assert resp is not None
        body = resp.content or b""
        flow.metadata[UPSTREAM_BODY] = body[: self.serving.copy_limit]
        err = self.exchange.backend.decode_error(
            resp.status_code,
            headers.lowered(resp.headers),
            redact.scrub(body, self.serving.candidate.secret),
        )
        self.serving.record.error = err
        answer.replace_with_error(resp, self.exchange.client.encode_error(self.exchange.call, err))
        self._dropped_header(resp)
        return body

    def _fail(self, flow: http.HTTPFlow, err: ir.Error) -> None:
        assert flow.response is not None
        self.serving.record.error = err
        answer.replace_with_error(
            flow.response, self.exchange.client.encode_error(self.exchange.call, err)
        )
        flow.marked = ":x:"

    def _content_type(self) -> str:
        ex = self.exchange
        if ex.request is not None and ex.request.stream:
            return ex.client.stream_encoder(ex.call, ex.request, ex.report).content_type
        return "application/json"

    def _dropped_header(self, resp: http.Response) -> None:
        dropped = self.serving.record.report.header_value()
        if dropped:
            resp.headers["x-crosswire-dropped"] = dropped
