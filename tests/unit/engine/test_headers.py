"""Header work on raw fields: one pass each, the app's bytes kept as they came."""

from __future__ import annotations

import gzip

import pytest
from mitmproxy import http

from crosswire.engine import headers


@pytest.mark.parametrize(
    ("fields", "framed"),
    [
        (
            ((b"Content-Type", b"application/json"), (b"Content-Length", b"99"), (b"X-A", b"1")),
            ((b"Content-Type", b"application/json"), (b"Content-Length", b"12"), (b"X-A", b"1")),
        ),
        (
            ((b"transfer-encoding", b"chunked"), (b"x-b", b"2")),
            ((b"x-b", b"2"), (b"content-length", b"12")),
        ),
        (
            ((b"content-length", b"1"), (b"content-length", b"1"), (b"Transfer-Encoding", b"x")),
            ((b"content-length", b"12"),),
        ),
    ],
)
def test_framed_by_length_keeps_the_rest_in_place(
    fields: headers.Fields, framed: headers.Fields
) -> None:
    assert headers.framed_by_length(fields, 12) == framed


def test_the_text_map_reads_fields_that_are_not_utf8() -> None:
    fields = ((b"X-Name", "é".encode()), (b"X-Raw", b"\xff\xfe"), (b"x-name", b"last"))
    assert headers.text_map(fields) == {"x-name": "last", "x-raw": "\udcff\udcfe"}
    assert headers.text_map(fields[:1]) == {"x-name": "é"}


def test_the_body_and_its_type_in_one_pass() -> None:
    plain = http.Response.make(200, b'{"a":1}', {"Content-Type": "application/json"})
    assert headers.body_and_type(plain) == (b'{"a":1}', "application/json")
    packed = http.Response.make(200, b"", {"content-encoding": "gzip"})
    packed.raw_content = gzip.compress(b"hello")  # as it came off the wire
    assert headers.body_and_type(packed) == (b"hello", "")
    broken = http.Response.make(200, b"", {"content-encoding": "gzip"})
    broken.raw_content = b"not gzip"
    with pytest.raises(ValueError):
        headers.body_and_type(broken)
