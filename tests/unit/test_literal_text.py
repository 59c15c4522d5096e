"""Text deltas carried as their JSON literal (``protocols/literal.py``) give the very bytes the
full decode → IR → encode path gives: on every recorded Anthropic stream, under any split of
the bytes, for both chat encoders (OpenAI's and Mistral's), and for the literals that must not
be carried (other escapes, bad UTF-8) — which then take the full path."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from crosswire import ir
from crosswire.convert import LITERAL_MISSES, Exchange, StreamConverter
from crosswire.protocols import codec
from crosswire.protocols.anthropic.stream_decode import MessagesStreamDecoder
from crosswire.protocols.base import ClientCall, Target
from crosswire.protocols.literal import TEXT_LITERAL, carries
from crosswire.protocols.openai_chat import stream_encode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
STREAMS = sorted(p for p in FIXTURES.glob("stream_*.json"))


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's ``created`` is the clock's second when the upstream names none."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)


def recorded(path: Path) -> bytes:
    body: Any = json.loads(path.read_text())["response"]["body"]
    return ("".join(body) if isinstance(body, list) else body).encode()


def converter(dialect: str = "openai", *, literal: bool = True) -> StreamConverter:
    ex = Exchange(
        call=ClientCall(protocol="openai-chat", endpoint="generate", dialect=dialect),  # type: ignore[arg-type]
        client=codec("openai-chat"),
        backend=codec("anthropic"),
        target=Target(protocol="anthropic", model="m"),
    )  # type: ignore[arg-type]
    ex.request = ir.Request(model="m", stream=True, include_usage=True)
    conv = ex.stream()
    if not literal:
        conv._literal = None  # the full path, as every other pair takes
    return conv


def run(conv: StreamConverter, chunks: list[bytes]) -> bytes:
    return b"".join(conv.feed(c) for c in chunks) + conv.close()


def by_event(data: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in data.split(b"\n\n") if e]


def random_splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 12)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("dialect", ["openai", "mistral"])
@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_recorded_streams_convert_to_the_same_bytes(path: Path, dialect: str) -> None:
    data = recorded(path)
    expected = run(converter(dialect, literal=False), [data])
    for chunks in (
        [data],
        by_event(data),
        [data[i : i + 1] for i in range(len(data))],
        *(random_splits(data, seed) for seed in range(5)),
    ):
        assert run(converter(dialect), chunks) == expected


def anthropic_stream(texts: list[bytes], *, crlf: bool = False) -> bytes:
    """A text stream whose deltas carry the given JSON literals, as Anthropic writes them."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
    events = [
        b"event: message_start\ndata: " + json.dumps(start).encode(),
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}',
        *(
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":' + t + b"}    }"
            for t in texts
        ),
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":5}}',
        b'event: message_stop\ndata: {"type":"message_stop"}',
    ]
    sep = b"\r\n" if crlf else b"\n"
    return b"".join(e.replace(b"\n", sep) + sep + sep for e in events)


CARRIED = [
    b'"plain"',
    b'"line\\nbreak\\ttab\\rreturn"',
    b'"a \\"quote\\" and a \\\\ backslash"',
    '"caf\u00e9 \u4e2d\u6587 \U0001f600"'.encode(),
    b'"\x7f"',
]
NOT_CARRIED = [
    b'"\\u00e9 escaped"',
    b'"\\/ slash"',
    b'"\\b\\f"',
    b'"\\ud83d\\ude00"',
    b'"bad \xff utf-8"',
    b'""',
]


@pytest.mark.parametrize("crlf", [False, True])
def test_every_literal_gives_what_the_full_path_gives(
    crlf: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = anthropic_stream(CARRIED + NOT_CARRIED + CARRIED, crlf=crlf)
    expected = run(converter(literal=False), [data])
    assert b'"content":"caf\xc3\xa9' in expected
    carried: list[bytes] = []
    text_literal = stream_encode.ChatStreamEncoder.text_literal

    def counted(self: stream_encode.ChatStreamEncoder, index: int, literal: bytes) -> Any:
        carried.append(literal)
        return text_literal(self, index, literal)

    monkeypatch.setattr(stream_encode.ChatStreamEncoder, "text_literal", counted)
    assert run(converter(), by_event(data)) == expected
    assert carried == ([] if crlf else CARRIED * 2)  # CRLF framing: the full path throughout
    for chunks in ([data], *(random_splits(data, s) for s in range(20))):
        assert run(converter(), chunks) == expected


def test_only_the_carried_literals_skip_decoding() -> None:
    decoder = MessagesStreamDecoder(ir.Report())
    decoder.feed(anthropic_stream([])[: anthropic_stream([]).index(b"event: content_block_stop")])
    assert decoder.idle()
    for literal in CARRIED:
        frame = by_event(anthropic_stream([literal]))[2]
        assert decoder.literal_text(frame) == (0, literal)
    for literal in NOT_CARRIED:
        frame = by_event(anthropic_stream([literal]))[2]
        assert decoder.literal_text(frame) is None
    # Not Anthropic's exact spelling: the full path decides.
    assert (
        decoder.literal_text(by_event(anthropic_stream([b'"x"']))[2].replace(b": ", b":")) is None
    )


def test_a_text_delta_for_a_block_that_is_not_text_is_not_carried() -> None:
    decoder = MessagesStreamDecoder(ir.Report())
    head = by_event(anthropic_stream([]))[0]
    decoder.feed(
        head + b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}\n\n'
    )
    frame = by_event(anthropic_stream([b'"x"']))[2]
    assert decoder.literal_text(frame) is None
    frame_other_index = frame.replace(b'"index":0', b'"index":3')
    assert decoder.literal_text(frame_other_index) is None


def test_the_pattern_matches_only_whole_literals() -> None:
    import re

    whole = re.compile(TEXT_LITERAL)
    assert whole.fullmatch(b'"ok \\" still"')
    assert not whole.fullmatch(b'"open')
    assert not whole.fullmatch(b'"raw\ncontrol"')
    assert carries(b'"ascii"') and carries('"\u00e9"'.encode()) and not carries(b'"\xc3"')


def test_an_upstream_spelling_text_deltas_otherwise_stops_being_tried() -> None:
    """An Anthropic-compatible server writing ``"index": 0`` with spaces: the same bytes out,
    and after ``LITERAL_MISSES`` such deltas the stream stops matching them at all."""
    texts = [b'"t%d "' % i for i in range(LITERAL_MISSES + 5)]
    data = anthropic_stream(texts).replace(b'","index":0,"delta"', b'", "index": 0, "delta"')
    expected = run(converter(literal=False), [data])
    conv = converter()
    assert run(conv, by_event(data)) == expected
    assert conv._literal is None
    assert run(converter(), [data]) == expected
