"""Answers crosswire gives an app itself: errors in the app's own protocol.

Every refusal (bad body, unknown endpoint, no key free, a client token that is not allowed) and
every upstream error is turned into the status and body shape the app's SDK expects, so the
SDK raises its own error type with a readable message instead of failing to parse.
"""

from __future__ import annotations

from mitmproxy import http

from crosswire import ir
from crosswire.engine import headers
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, EncodedError, ProtocolName
from crosswire.routing import detect, host_protocol


def error_response(protocol: ProtocolName, call: ClientCall | None, err: ir.Error) -> http.Response:
    encoded = codec(protocol).encode_error(call, err)
    headers = {"content-type": "application/json", **encoded.headers}
    if err.retry_after is not None:
        headers["retry-after"] = str(max(1, int(err.retry_after + 0.999)))
        # At least 1: the openai SDK ignores 0 and backs off instead (docs/mitmproxy.md §8).
        headers["retry-after-ms"] = str(max(1, int(err.retry_after * 1000)))
    return http.Response.make(encoded.status, encoded.body, headers)


def protocol_of(req: http.Request) -> ProtocolName:
    """The app's protocol for an answer given without routing (an internal error, a drain):
    by its endpoint, else by its host."""
    found = detect(req.method, req.path, dict(req.query.items()), headers.lowered(req.headers))
    return found.protocol if found else host_protocol(headers.target_host(req))


def refuse(
    flow: http.HTTPFlow,
    protocol: ProtocolName,
    call: ClientCall | None,
    err: ir.Error,
    label: str,
) -> None:
    """Answer the app with ``err`` and send nothing upstream."""
    flow.response = error_response(protocol, call, err)
    flow.comment = label
    flow.marked = ":no_entry:"


def replace_with_error(resp: http.Response, encoded: EncodedError) -> None:
    """Turn an upstream answer into an error in the app's shape, keeping its retry-after."""
    retry_after = resp.headers.get("retry-after")
    resp.status_code = encoded.status
    resp.content = encoded.body
    resp.headers["content-type"] = "application/json"
    for name, value in encoded.headers.items():
        resp.headers[name] = value
    if retry_after and "retry-after" not in resp.headers:
        resp.headers["retry-after"] = retry_after
