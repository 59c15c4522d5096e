"""Serving a same-protocol answer: forwarded byte for byte, with usage read on the side.

The app and the backend speak one protocol, so nothing is decoded per event: a stream's bytes
go straight through while a ``Tap`` keeps a bounded head and tail, from which the codec's
``Wire.scan_usage`` reads the token counts once, at the end. A stream that ends without its
protocol's terminator was cut short upstream; the app is told with its protocol's error event.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, cast

from mitmproxy import http

from crosswire import ir
from crosswire.engine import answer, headers, redact, streaming
from crosswire.engine.streaming import StreamCallable
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName

if TYPE_CHECKING:
    from crosswire.engine.serving import Serving

#: How much of a whole same-protocol body is scanned for usage (it sits at the end).
WHOLE_SCAN_BYTES = 65536
#: The answering model, as every protocol but Gemini (``modelVersion``) names it near the start.
_MODEL = re.compile(rb'"(?:model|modelVersion)"\s*:\s*"([^"\\]{1,200})"')


def model_in(data: bytes) -> str | None:
    found = _MODEL.search(data)
    return found.group(1).decode("utf-8", "replace") if found else None


class Tap:
    """Keeps the head and a rolling tail of a stream: O(1) work per chunk, bounded memory."""

    __slots__ = ("head", "limit", "tail")

    def __init__(self, limit: int = 8192) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.limit = limit

    def add(self, data: bytes) -> None:
        if len(self.head) < self.limit:
            room = self.limit - len(self.head)
            self.head += data[:room]
            data = data[room:]
            if not data:
                return
        self.tail += data
        if len(self.tail) > 2 * self.limit:
            del self.tail[: len(self.tail) - self.limit]

    def seen(self) -> bytes:
        return bytes(self.tail or self.head)

    def usage(self, protocol: ProtocolName) -> ir.Usage:
        """The usage in what was kept, read by the protocol's own scanner."""
        scan = codec(protocol).wire.scan_usage
        return scan(bytes(self.head)).merged(scan(bytes(self.tail)))


class Passthrough:
    def __init__(self, serving: Serving) -> None:
        self.serving = serving
        self.tap: Tap | None = None
        self.copy: bytearray | None = None
        self.good_whole: bytes | None = None

    def stream(self, flow: http.HTTPFlow) -> StreamCallable | None:
        serving = self.serving
        assert flow.response is not None
        if not streaming.is_stream(
            flow.response, serving.candidate.protocol, serving.candidate.url
        ):
            return None  # a whole answer (an error object in a 200, say): checked in ``whole``
        tap = self.tap = Tap()
        copy = self.copy = bytearray() if serving.keep_copies else None
        limit = serving.copy_limit
        terminators = codec(serving.client_protocol).wire.stream_terminators
        streaming.keepalive(flow, serving.client_protocol, serving.keepalive)

        def stream(data: bytes) -> bytes | list[bytes]:
            if data:
                tap.add(data)
                if copy is not None and len(copy) < limit:
                    copy.extend(data[: limit - len(copy)])
                return data
            if terminators and not any(t in tap.seen() for t in terminators):
                serving.record.cut_short = True
                return self.closing(
                    ir.Error.of(
                        "api_error", "crosswire: the upstream stream ended before it was complete"
                    )
                )
            return b""

        return stream

    def closing(self, error: ir.Error) -> bytes:
        """The app protocol's error event that ends a broken stream."""
        serving = self.serving
        encoder = codec(serving.client_protocol).stream_encoder(
            serving.call, ir.Request(model=serving.record.model_out or ""), serving.record.report
        )
        return encoder.encode(ir.StreamError(error=error)) + encoder.close()

    def finish_stream(self, flow: http.HTTPFlow) -> ir.Usage | None:
        if self.copy is not None and flow.response is not None:
            flow.response.raw_content = bytes(self.copy)  # the bytes as the app received them
        if self.tap is None:
            return None
        self.serving.record.response_model = model_in(bytes(self.tap.head))
        return self.tap.usage(cast(ProtocolName, self.serving.candidate.protocol))

    def whole(self, flow: http.HTTPFlow) -> None:
        """Check a whole answer before the app gets it; its usage is read afterwards."""
        resp = flow.response
        assert resp is not None
        content, content_type = headers.body_and_type(resp)
        if not content:
            return
        failure = failure_in(content, content_type)
        if failure is not None:  # an SDK would read it as an (empty) success
            self._answer_error(flow, 502, failure)
            return
        self.good_whole = content

    def whole_usage(self, flow: http.HTTPFlow) -> ir.Usage | None:
        """The usage (and answering model) of a whole answer that passed ``whole`` — read after
        the app has it (in the ``response`` hook), since nothing depends on it before."""
        content, self.good_whole = self.good_whole, None
        if content is None:
            return None
        self.serving.record.response_model = model_in(content[:WHOLE_SCAN_BYTES])
        scan = codec(self.serving.candidate.protocol).wire.scan_usage
        return scan(content[-WHOLE_SCAN_BYTES:])

    def error(self, flow: http.HTTPFlow) -> bytes:
        """An upstream error goes to the app as it is (same protocol), minus any pool key."""
        resp = flow.response
        assert resp is not None
        body = resp.content or b""
        if not _is_json_object(body):  # a load balancer's HTML page, an empty or text body
            self._answer_error(flow, resp.status_code, body)
            return body
        scrubbed = redact.scrub(body, self.serving.candidate.secret)
        if scrubbed is not body:
            resp.content = scrubbed
        return body

    def _answer_error(self, flow: http.HTTPFlow, status: int, body: bytes) -> None:
        """Answer in the app's error shape instead (status kept; retry-after kept)."""
        resp = flow.response
        assert resp is not None
        serving = self.serving
        if not _is_json_object(body):
            body = _as_error_json(status, body)
        err = codec(serving.candidate.protocol).decode_error(
            status, headers.lowered(resp.headers), redact.scrub(body, serving.candidate.secret)
        )
        serving.record.error = err
        answer.replace_with_error(
            resp, codec(serving.client_protocol).encode_error(serving.call, err)
        )
        flow.marked = ":x:"


#: A top-level error that is set (Responses objects carry ``"error": null``).
_ERROR_SET = re.compile(rb'^\s*\{\s*(?:"type"\s*:\s*"error"\s*,\s*)?"error"\s*:\s*(?!null)')


def failure_in(body: bytes, content_type: str) -> bytes | None:
    """What makes a whole 200 answer a failure, as an error body to decode: an error object
    (some gateways answer errors with 200), or JSON that does not parse (a cut or garbled
    answer). None for a good answer; non-JSON content types are left alone."""
    if _ERROR_SET.match(body):
        return body
    if "json" in content_type and not _looks_whole(body):
        return b'{"error":{"message":"crosswire: the upstream answer is not valid JSON"}}'
    return None


def _looks_whole(body: bytes) -> bool:
    """A JSON object from its first to its last byte — without parsing it: a same-protocol answer
    is passed on as it is, and parsing every one would cost what passthrough saves."""
    first = _FIRST_BYTE.match(body)
    if first is None or first.group(1) != b"{":
        return False
    end = len(body) - 1
    while end > 0 and body[end] in _SPACE:  # from the end, without copying the body
        end -= 1
    return body[end] == 0x7D  # }


_FIRST_BYTE = re.compile(rb"\s*(\S)")
_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # what bytes.strip() strips


_TITLE = re.compile(rb"<title>\s*([^<]{1,200}?)\s*</title>", re.IGNORECASE)


def _as_error_json(status: int, body: bytes) -> bytes:
    """A non-JSON error body (an HTML page, text, nothing) as an error object that says what
    came back: an HTML page by its title, text by its start."""
    title = _TITLE.search(body[:4096])
    if title:
        what = f"an HTML page: {title.group(1).decode('utf-8', 'replace')}"
    elif body.lstrip()[:1] == b"<":
        what = "an HTML page"
    elif body.strip():
        what = f"text: {body[:200].decode('utf-8', 'replace').strip()}"
    else:
        what = "an empty body"
    message = f"crosswire: the upstream answered {status} with {what}"
    return json.dumps({"error": {"message": message}}).encode()


def _is_json_object(body: bytes) -> bool:
    if not body.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
