"""What every streamed answer needs from mitmproxy: its callable type and framing headers.

mitmproxy calls a response's ``stream`` callable once per received chunk and once with ``b""``
at the end. Two rules from its HTTP/1 server: never return ``b""`` mid-stream (it becomes the
chunked terminator and cuts the body — return ``[]``), and drop ``content-length`` (the body
changes) while keeping keep-alive with ``transfer-encoding: chunked`` for HTTP/1 clients
(docs/mitmproxy.md §4).
"""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from crosswire.convert import STREAM_TYPES
from crosswire.engine import headers, layer_patch
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName

StreamCallable = Callable[[bytes], bytes | list[bytes]]


def is_stream(resp: http.Response, protocol: str, upstream_url: str) -> bool:
    """Whether an upstream answer is a stream (Gemini's JSON-array stream is application/json)."""
    content_type = headers.value(resp.headers, b"content-type")
    return content_type.startswith(STREAM_TYPES) or (
        protocol == "gemini"
        and content_type.startswith("application/json")
        and ":streamGenerateContent" in upstream_url
        and "alt=sse" not in upstream_url  # asked for SSE: JSON is a whole (error) answer
    )


def reframe(flow: http.HTTPFlow, content_type: str) -> None:
    """Headers for a converted stream: its own content type, no length, chunked for HTTP/1."""
    resp = flow.response
    assert resp is not None
    resp.headers["content-type"] = content_type
    for name in ("content-length", "content-encoding"):
        resp.headers.pop(name, None)
    if not flow.request.is_http2:
        resp.headers["transfer-encoding"] = "chunked"


def keepalive(flow: http.HTTPFlow, protocol: ProtocolName, interval: float) -> None:
    """Keep-alives while the upstream is silent, in the app protocol's form — SSE answers only:
    Gemini's JSON-array stream and Ollama's NDJSON have no form a client would skip."""
    resp = flow.response
    if resp is not None and headers.value(resp.headers, b"content-type").startswith(
        "text/event-stream"
    ):
        layer_patch.keepalive(flow, codec(protocol).wire.sse_keepalive, interval)
