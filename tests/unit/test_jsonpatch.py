from __future__ import annotations

import json

import pytest

from crosswire.jsonpatch import get_top_level, get_top_levels, set_top_level


def test_sets_only_the_top_level_key_and_keeps_every_other_byte() -> None:
    body = b'{"messages":[{"model":"inner","content":"say \\"model\\": \\"x\\""}],\n "model" :  "gpt-4o", "n": 1}'
    out = set_top_level(body, "model", "claude")
    assert out == body.replace(b'"gpt-4o"', b'"claude"')


def test_numbers_and_missing_keys() -> None:
    assert set_top_level(b'{"max_tokens": 32000}', "max_tokens", 8192) == b'{"max_tokens": 8192}'
    assert set_top_level(b'{"a": 1}', "max_tokens", 1) is None


def test_get_top_level_scalars() -> None:
    body = b'{"meta":{"stream":false},"stream": true, "model":"m\\u00e9"}'
    assert get_top_level(body, "stream") is True
    assert get_top_level(body, "model") == "mé"
    assert get_top_level(body, "absent") is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta":{"stream":false},"stream": true, "model":"m\\u00e9"}',
        b'{"model":"a","messages":[{"model":"inner","stream":1}],"stream":false}',
        b'{"messages":[{"stream":true}],"model":"only"}',  # stream only nested: taken as found
        b'{"n":1}',
        b"",
    ],
)
def test_several_keys_in_one_scan_read_as_one_at_a_time(body: bytes) -> None:
    keys = ("model", "stream", "absent")
    assert get_top_levels(body, keys) == [get_top_level(body, k) for k in keys]


@pytest.mark.parametrize(
    "value",
    [
        b'"gpt-4o"',
        b'"h\\u00e9"',
        '"hé"'.encode(),
        b'"a\\"b"',
        b'""',
        b'"a\nb"',  # a raw control character: not JSON
        b'"\xff"',  # not UTF-8
        b"true",
        b"false",
        b"null",
        b"12",
        b"-1.5e3",
    ],
)
def test_a_top_level_scalar_reads_as_json_loads_would(value: bytes) -> None:
    """The fast path for plain strings and literals gives what ``json.loads`` gives."""
    try:
        expected = json.loads(value)
    except ValueError:
        expected = None
    assert get_top_level(b'{"a": [1, {"model": 0}], "model": ' + value + b"}", "model") == expected
