"""Upstream error answers in, OpenAI error shapes out, and the models list (EDGE 89, 90)."""

from __future__ import annotations

import email.utils
import json
import time

import pytest
from openai.types import Model

from crosswire import ir
from crosswire.protocols.base import ModelInfo
from tests.unit.protocols.openai_chat.support import CALL, C


def test_insufficient_quota_is_quota_exhausted_and_keeps_429() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        }
    ).encode()
    error = C.decode_error(429, {"retry-after": "20"}, body)
    assert (error.kind, error.status, error.code, error.retry_after) == (
        "quota_exhausted",
        429,
        "insufficient_quota",
        20.0,
    )


def test_rate_limit_with_retry_after_ms_in_any_header_case() -> None:
    body = (
        b'{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}'
    )
    error = C.decode_error(429, {"Retry-After-Ms": "1500"}, body)
    assert error.kind == "rate_limit" and error.retry_after == 1.5


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    error = C.decode_error(503, {"retry-after": when}, b"")
    assert (
        error.kind == "unavailable"
        and error.retry_after is not None
        and 25 < error.retry_after <= 30
    )


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            502,
            b"<html><body>Bad Gateway</body></html>",
            "unavailable",
            "<html><body>Bad Gateway</body></html>",
        ),
        (500, b"", "api_error", "upstream answered HTTP 500"),
        (401, b'{"detail":"Invalid API Key"}', "authentication", "Invalid API Key"),
        (
            400,
            b'{"object":"error","message":"max_tokens too large","type":"BadRequestError","code":400}',
            "invalid_request",
            "max_tokens too large",
        ),
        (529, b'{"error":"overloaded"}', "overloaded", "overloaded"),
    ],
)
def test_any_body_is_tolerated_and_the_status_kept(
    status: int, body: bytes, kind: str, message: str
) -> None:
    """EDGE 90: HTML, empty, FastAPI ``detail``, vLLM top-level shape, string errors."""
    error = C.decode_error(status, {}, body)
    assert (error.status, error.kind, error.message) == (status, kind, message)


def test_mistral_validation_error_message_object_is_readable() -> None:
    body = json.dumps(
        {
            "object": "error",
            "message": {
                "detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", "stream_options"],
                        "msg": "Extra inputs are not permitted",
                    }
                ]
            },
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    ).encode()
    error = C.decode_error(422, {}, body)
    assert error.status == 422 and error.kind == "invalid_request"
    assert (
        "Extra inputs are not permitted" in error.message and error.code == "invalid_request_error"
    )


@pytest.mark.parametrize(
    ("kind", "status", "etype"),
    [
        ("rate_limit", 429, "rate_limit_error"),
        ("quota_exhausted", 429, "insufficient_quota"),
        ("invalid_request", 400, "invalid_request_error"),
        ("overloaded", 529, "server_error"),
        ("authentication", 401, "authentication_error"),
    ],
)
def test_encode_error_in_openai_shape(kind: str, status: int, etype: str) -> None:
    error = ir.Error(kind=kind, message="m", status=status, code="c", param="p", retry_after=2.5)  # type: ignore[arg-type]
    encoded = C.encode_error(CALL, error)
    assert encoded.status == (503 if status == 529 else status)
    assert json.loads(encoded.body) == {
        "error": {"message": "m", "type": etype, "param": "p", "code": "c"}
    }
    assert encoded.headers["retry-after"] == "3"


def test_models_list_in_openai_shape() -> None:
    body = json.loads(C.encode_models(CALL, [ModelInfo(id="a"), ModelInfo(id="b", owned_by="me")]))
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["a", "b"]
    for entry in body["data"]:
        Model.model_validate(entry)
    assert body["data"][1]["owned_by"] == "me"
