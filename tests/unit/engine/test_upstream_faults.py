"""Unit checks behind the fault matrix (tests/e2e/test_faults.py): what makes a whole 200
answer a failure, and how a non-JSON error body is described to the app."""

from __future__ import annotations

import json

import pytest

from crosswire.engine.passthrough import _as_error_json, failure_in


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":{"message":"internal","type":"server_error"}}',
        b'{"type":"error","error":{"type":"api_error","message":"x"}}',
        b'{"error":"model not found"}',
        b'{"id": "x", "choices": [',
    ],
)
def test_a_200_with_an_error_or_broken_json_is_a_failure(body: bytes) -> None:
    assert failure_in(body, "application/json") is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":"resp_1","object":"response","status":"completed","error":null,"output":[]}',
        b'{"id":"c","choices":[{"message":{"content":"the error was fixed"}}]}',
    ],
)
def test_good_answers_are_not_failures(body: bytes) -> None:
    assert failure_in(body, "application/json") is None


@pytest.mark.parametrize(
    "body", [b' \n{"a": 1}\r\n\x0c', b"{", b"}", b"{}", b"  ", b"", b'{"a": [1}', b'\t{"a":1} x']
)
def test_a_whole_object_is_told_by_its_first_and_last_bytes(body: bytes) -> None:
    stripped = body.strip()
    whole = stripped[:1] == b"{" and stripped[-1:] == b"}"
    assert (failure_in(body, "application/json") is None) is whole


def test_non_json_content_types_are_left_alone() -> None:
    assert failure_in(b"plain text", "text/plain") is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html><head><title>502 Bad Gateway</title></head></html>", "an HTML page: 502 Bad"),
        (b"<html><body>oops</body></html>", "an HTML page"),
        (b"upstream connect error", "text: upstream connect error"),
        (b"", "an empty body"),
    ],
)
def test_non_json_error_bodies_are_described(body: bytes, said: str) -> None:
    message = json.loads(_as_error_json(502, body))["error"]["message"]
    assert message.startswith("crosswire: the upstream answered 502 with ") and said in message
