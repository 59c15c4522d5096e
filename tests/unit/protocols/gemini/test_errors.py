"""Gemini error bodies both ways (edge case 90) and the recorded error fixtures."""

from __future__ import annotations

import json

import pytest
from google.genai import errors as genai_errors

from crosswire.ir import Error
from crosswire.protocols.gemini import CODEC

from .support import fixture_names, load


def decode_recorded(name: str) -> Error:
    record = load(name)
    response = record["response"]
    return CODEC.decode_error(response["status"], response["headers"], response["body"].encode())


def test_every_error_fixture_decodes() -> None:
    names = fixture_names(kind="error")
    assert len(names) == 3
    for name in names:
        error = decode_recorded(name)
        assert error.message


def test_invalid_api_key_is_authentication() -> None:
    """Google says 400 INVALID_ARGUMENT with ErrorInfo.reason API_KEY_INVALID; the IR says
    authentication/401 so every client SDK raises its authentication error."""
    error = decode_recorded("error_400_api_key_invalid")
    assert (error.kind, error.status, error.code) == ("authentication", 401, "API_KEY_INVALID")
    assert error.message == "API key not valid. Please pass a valid API key."


def test_model_not_found_keeps_404() -> None:
    error = decode_recorded("error_404_model_not_found")
    assert (error.kind, error.status) == ("not_found", 404)
    assert "gemini-3.6-flahs" in error.message


def test_per_minute_quota_is_rate_limit_with_retry_delay() -> None:
    """The recorded 429: QuotaFailure per minute → rate_limit (retrying helps), RetryInfo
    ``48s`` → retry_after; 429 stays 429."""
    error = decode_recorded("error_429_resource_exhausted")
    assert (error.kind, error.status, error.retry_after) == ("rate_limit", 429, 48.0)
    assert error.code == "RESOURCE_EXHAUSTED"


def _quota_body(quota_id: str, value: str = "250") -> bytes:
    return json.dumps(
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                "quotaId": quota_id,
                                "quotaValue": value,
                            }
                        ],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"},
                ],
            }
        }
    ).encode()


def test_per_day_quota_is_quota_exhausted() -> None:
    error = CODEC.decode_error(
        429, {}, _quota_body("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    )
    assert (error.kind, error.status, error.retry_after) == ("quota_exhausted", 429, 13.0)


def test_zero_quota_is_quota_exhausted() -> None:
    error = CODEC.decode_error(
        429, {}, _quota_body("GenerateRequestsPerMinutePerProjectPerModel", "0")
    )
    assert error.kind == "quota_exhausted"


def test_overloaded_unavailable_keeps_503() -> None:
    body = b'{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}'
    error = CODEC.decode_error(503, {}, body)
    assert (error.kind, error.status) == ("overloaded", 503)
    plain = CODEC.decode_error(
        503, {}, b'{"error":{"code":503,"message":"x","status":"UNAVAILABLE"}}'
    )
    assert plain.kind == "unavailable"


def test_array_wrapped_error_of_a_json_array_stream() -> None:
    body = b'[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]'
    error = CODEC.decode_error(400, {}, body)
    assert (error.kind, error.status, error.message) == ("invalid_request", 400, "bad")


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            502,
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            "unavailable",
            "502 Bad Gateway",
        ),
        (500, b"", "api_error", "upstream answered HTTP 500"),
        (429, b'{"error": "slow down"}', "rate_limit", "slow down"),
        (404, b"not json {", "not_found", "not json {"),
        (418, b"[1, 2]", "invalid_request", "[1, 2]"),
    ],
)
def test_any_body_is_tolerated(status: int, body: bytes, kind: str, message: str) -> None:
    error = CODEC.decode_error(status, {}, body)
    assert (error.kind, error.status, error.message) == (kind, status, message)


def test_retry_after_header_is_used_when_the_body_has_none() -> None:
    body = b'{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}'
    assert CODEC.decode_error(429, {"Retry-After": "7"}, body).retry_after == 7.0
    assert (
        CODEC.decode_error(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, body).retry_after
        is None
    )


@pytest.mark.parametrize(
    ("kind", "status", "name"),
    [
        ("invalid_request", 400, "INVALID_ARGUMENT"),
        ("authentication", 401, "UNAUTHENTICATED"),
        ("permission", 403, "PERMISSION_DENIED"),
        ("not_found", 404, "NOT_FOUND"),
        ("rate_limit", 429, "RESOURCE_EXHAUSTED"),
        ("quota_exhausted", 429, "RESOURCE_EXHAUSTED"),
        ("api_error", 500, "INTERNAL"),
        ("unavailable", 503, "UNAVAILABLE"),
        ("timeout", 504, "DEADLINE_EXCEEDED"),
        ("overloaded", 503, "UNAVAILABLE"),
    ],
)
def test_encode_error_uses_google_status_names(kind: str, status: int, name: str) -> None:
    """Edge case 90: ``{"error":{"code","message","status"}}``; Anthropic's 529 becomes 503,
    the status google-genai retries."""
    encoded = CODEC.encode_error(None, Error.of(kind, "boom"))  # type: ignore[arg-type]
    body = json.loads(encoded.body)
    assert encoded.status == status
    assert body["error"]["code"] == status
    assert body["error"]["status"] == name
    assert body["error"]["message"] == "boom"
    parsed = genai_errors.APIError(encoded.status, body)
    assert (parsed.code, parsed.status, parsed.message) == (status, name, "boom")


def test_encode_error_adds_retry_and_quota_details() -> None:
    error = Error(kind="quota_exhausted", message="daily quota", status=429, retry_after=13.5)
    body = json.loads(CODEC.encode_error(None, error).body)
    details = {d["@type"].rsplit(".", 1)[1]: d for d in body["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "13.5s"
    assert "PerDay" in details["QuotaFailure"]["violations"][0]["quotaId"]


def test_recorded_error_round_trips_to_a_gemini_client() -> None:
    error = decode_recorded("error_429_resource_exhausted")
    body = json.loads(CODEC.encode_error(None, error).body)
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    again = CODEC.decode_error(429, {}, json.dumps(body).encode())
    assert (again.kind, again.retry_after) == ("rate_limit", 48.0)
    key = decode_recorded("error_400_api_key_invalid")
    body = json.loads(CODEC.encode_error(None, key).body)
    assert body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert CODEC.decode_error(401, {}, json.dumps(body).encode()).kind == "authentication"
