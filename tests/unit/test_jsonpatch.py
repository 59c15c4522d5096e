from __future__ import annotations

from crosswire.jsonpatch import get_top_level, set_top_level


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
