"""Ollama error bodies ⇄ IR: ``{"error": "…"}``, status kept (docs.ollama.com/api/errors)."""

from __future__ import annotations

import json

import ollama
import pytest

from crosswire import ir
from tests.unit.protocols.ollama.support import CHAT, C


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, b'{"error":"model \\"x\\" not found, try pulling it first"}', "not_found", None),
        (400, b'{"error":"invalid think value"}', "invalid_request", "invalid think value"),
        (429, b'{"error":"you have reached your hourly usage limit"}', "rate_limit", None),
        (
            503,
            b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
            "unavailable",
            None,
        ),
        (500, b"<html>Bad Gateway</html>", "api_error", "<html>Bad Gateway</html>"),
        (502, b"", "unavailable", "upstream answered HTTP 502"),
        (
            401,
            b'{"error":{"message":"unauthorized","type":"auth"}}',
            "authentication",
            "unauthorized",
        ),
    ],
)
def test_any_error_body_decodes_with_its_status(
    status: int, body: bytes, kind: str, message: str | None
) -> None:
    err = C.decode_error(status, {}, body)
    assert err.kind == kind and err.status == status
    if message is not None:
        assert err.message == message
    else:
        assert err.message == json.loads(body)["error"]


def test_retry_after_is_read() -> None:
    err = C.decode_error(429, {"Retry-After": "7"}, b'{"error":"slow down"}')
    assert err.retry_after == 7.0


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ir.Error.of("overloaded", "Overloaded"), 503),
        (ir.Error.of("rate_limit", "slow", retry_after=2.5), 429),
        (ir.Error(kind="api_error", message="boom", status=200), 500),
        (ir.Error.of("not_found", "no model"), 404),
    ],
)
def test_errors_encode_as_ollama_does(error: ir.Error, status: int) -> None:
    encoded = C.encode_error(CHAT, error)
    assert encoded.status == status
    assert json.loads(encoded.body) == {"error": error.message}
    exc = ollama.ResponseError(encoded.body.decode(), encoded.status)
    assert exc.error == error.message and exc.status_code == status
    if error.retry_after is not None:
        assert encoded.headers == {"retry-after": "3"}
