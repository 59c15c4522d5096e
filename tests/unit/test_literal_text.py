"""Text deltas carried as their JSON literal (``protocols/literal.py``) give the very bytes the
full decode → IR → encode path gives: on every recorded Anthropic stream to both chat encoders
(OpenAI's and Mistral's) and every recorded OpenAI / Mistral chat stream to the Anthropic
encoder, under any split of the bytes, and for the literals that must not be carried (other
escapes, bad UTF-8) — which then take the full path."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosswire import ir
from crosswire.convert import LITERAL_MISSES, Exchange, StreamConverter
from crosswire.protocols import codec
from crosswire.protocols.anthropic.stream_decode import MessagesStreamDecoder
from crosswire.protocols.anthropic.stream_encode import MessagesStreamEncoder
from crosswire.protocols.base import ClientCall, Target
from crosswire.protocols.event_encoder import EventEncoder
from crosswire.protocols.literal import TEXT_LITERAL, carries
from crosswire.protocols.openai_chat import stream_encode
from crosswire.protocols.openai_chat.stream_decode import ChatStreamDecoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STREAMS = sorted(FIXTURES.glob("anthropic/stream_*.json"))
CHAT_STREAMS = sorted(
    [*FIXTURES.glob("openai_chat/stream_*.json"), *FIXTURES.glob("mistral/chat_stream_*.json")]
)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's ``created`` is the clock's second when the upstream names none."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)


def recorded(path: Path) -> bytes:
    body: Any = json.loads(path.read_text())["response"]["body"]
    return ("".join(body) if isinstance(body, list) else body).encode()


def converter(
    dialect: str = "openai",
    *,
    literal: bool = True,
    backend: str = "anthropic",
    client: str | None = None,
) -> StreamConverter:
    """Anthropic → a chat app of ``dialect``; or, with ``backend="openai-chat"``, a chat
    upstream of ``dialect`` → an Anthropic app; ``client`` names another app protocol."""
    client = client or ("anthropic" if backend == "openai-chat" else "openai-chat")
    ex = Exchange(
        call=ClientCall(protocol=client, endpoint="generate", dialect=dialect),  # type: ignore[arg-type]
        client=codec(client),
        backend=codec(backend),  # type: ignore[arg-type]
        target=Target(protocol=backend, model="m", dialect=dialect),  # type: ignore[arg-type]
    )  # type: ignore[arg-type]
    ex.request = ir.Request(model="m", stream=True, include_usage=True)
    conv = ex.stream()
    if not literal:
        conv._literal = None  # the full path, as every other pair takes
    return conv


def splits(data: bytes) -> list[list[bytes]]:
    return [
        [data],
        by_event(data),
        [data[i : i + 1] for i in range(len(data))],
        *(random_splits(data, seed) for seed in range(5)),
    ]


def assert_every_split_gives(expected: bytes, data: bytes, *args: Any, **kw: Any) -> None:
    """The literal path's converter (``converter(*args, **kw)``) writes ``expected`` under every
    split of ``data`` in ``splits``."""
    for chunks in splits(data):
        assert run(converter(*args, **kw), chunks) == expected


def record_carried(monkeypatch: pytest.MonkeyPatch, encoder: type[EventEncoder]) -> list[bytes]:
    """The literals ``encoder`` is asked to write from now on (the literal path taken)."""
    carried: list[bytes] = []
    text_literal = encoder.text_literal

    def counted(self: EventEncoder, index: int, literal: bytes) -> bytes | None:
        carried.append(literal)
        return text_literal(self, index, literal)

    monkeypatch.setattr(encoder, "text_literal", counted)
    return carried


def run(conv: StreamConverter, chunks: list[bytes]) -> bytes:
    return b"".join(conv.feed(c) for c in chunks) + conv.close()


def by_event(data: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in data.split(b"\n\n") if e]


def event(data: bytes, n: int) -> bytes:
    """The ``n``th event of ``data`` as ``literal_text`` is given it (no blank line)."""
    return data.split(b"\n\n")[n]


def random_splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 12)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize(
    ("client", "dialect"),
    [("openai-chat", "openai"), ("openai-chat", "mistral"), ("openai-responses", "openai")],
)
@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_recorded_streams_convert_to_the_same_bytes(path: Path, client: str, dialect: str) -> None:
    data = recorded(path)
    expected = run(converter(dialect, literal=False, client=client), [data])
    assert_every_split_gives(expected, data, dialect, client=client)


@pytest.mark.parametrize("client", ["anthropic", "openai-responses"])
@pytest.mark.parametrize("path", CHAT_STREAMS, ids=lambda p: p.stem)
def test_recorded_chat_streams_convert_to_the_same_bytes(path: Path, client: str) -> None:
    data = recorded(path)
    dialect = "mistral" if path.parent.name == "mistral" else "openai"
    kw: dict[str, Any] = {"backend": "openai-chat", "client": client}
    expected = run(converter(dialect, literal=False, **kw), [data])
    assert_every_split_gives(expected, data, dialect, **kw)


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
    carried = record_carried(monkeypatch, stream_encode.ChatStreamEncoder)
    assert run(converter(), by_event(data)) == expected
    assert carried == ([] if crlf else CARRIED * 2)  # CRLF framing: the full path throughout
    for chunks in ([data], *(random_splits(data, s) for s in range(20))):
        assert run(converter(), chunks) == expected


def test_only_the_carried_literals_skip_decoding() -> None:
    decoder = MessagesStreamDecoder(ir.Report())
    decoder.feed(anthropic_stream([])[: anthropic_stream([]).index(b"event: content_block_stop")])
    assert decoder.idle()
    for literal in CARRIED:
        frame = event(anthropic_stream([literal]), 2)
        assert decoder.literal_text(frame) == (0, literal)
    for literal in NOT_CARRIED:
        frame = event(anthropic_stream([literal]), 2)
        assert decoder.literal_text(frame) is None
    # Not Anthropic's exact spelling: the full path decides.
    assert decoder.literal_text(event(anthropic_stream([b'"x"']), 2).replace(b": ", b":")) is None


def test_a_text_delta_for_a_block_that_is_not_text_is_not_carried() -> None:
    decoder = MessagesStreamDecoder(ir.Report())
    head = by_event(anthropic_stream([]))[0]
    decoder.feed(
        head + b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}\n\n'
    )
    frame = event(anthropic_stream([b'"x"']), 2)
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


def chat_stream(texts: list[bytes]) -> bytes:
    """An OpenAI chat stream (include_usage) whose content deltas carry the given literals."""
    head = (
        b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1782955818,'
        b'"model":"gpt-x","service_tier":"default","system_fingerprint":"fp_1"'
    )
    chunks = [
        b'{%s,"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
        b'"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"ab"}' % head,
        *(
            b'{%s,"choices":[{"index":0,"delta":{"content":%s},"logprobs":null,'
            b'"finish_reason":null}],"usage":null,"obfuscation":"x1"}' % (head, t)
            for t in texts
        ),
        b'{%s,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],'
        b'"usage":null}' % head,
        b'{%s,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,'
        b'"total_tokens":8}}' % head,
    ]
    return b"".join(b"data: " + c + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def test_chat_literals_give_what_the_full_path_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    data = chat_stream(CARRIED + NOT_CARRIED + CARRIED)
    expected = run(converter(literal=False, backend="openai-chat"), [data])
    carried = record_carried(monkeypatch, MessagesStreamEncoder)
    assert run(converter(backend="openai-chat"), by_event(data)) == expected
    # The first text delta opens the text part (the full path); the rest are carried.
    assert carried == CARRIED[1:] + CARRIED
    assert_every_split_gives(expected, data, backend="openai-chat")


def test_a_chat_delta_that_is_not_only_text_is_not_carried() -> None:
    decoder = ChatStreamDecoder(ir.Report())
    frames = by_event(chat_stream([b'"a"', b'"b"']))
    decoder.feed(b"".join(frames[:2]))  # the role chunk, then the text part opens
    text = frames[2].removesuffix(b"\n\n")
    assert decoder.literal_text(text) == (0, b'"b"')
    for other in (
        text.replace(b'"delta":{', b'"delta":{"role":"assistant",'),
        text.replace(b'"finish_reason":null', b'"finish_reason":"stop"'),
        text.replace(b'"usage":null', b'"usage":{"prompt_tokens":1}'),
        text.replace(b'"index":0,"delta"', b'"index":1,"delta"'),
        text.replace(b'}],"usage"', b'},{"index":1,"delta":{}}],"usage"'),
        text.replace(b'"usage":null', b'"usage":null,"choices":null'),
    ):
        assert decoder.literal_text(other) is None, other


def _literal(text: str, ascii_only: bool) -> bytes:
    """The text as an upstream might write it: UTF-8 as is, or every non-ASCII char escaped."""
    return json.dumps(text, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=8),
    ascii_only=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=10),
    backend=st.sampled_from(["anthropic", "openai-chat"]),
    responses=st.booleans(),
)
def test_any_text_under_any_split_gives_the_full_paths_bytes(
    texts: list[str], ascii_only: bool, cuts: list[int], backend: str, responses: bool
) -> None:
    literals = [_literal(t, ascii_only) for t in texts]
    data = anthropic_stream(literals) if backend == "anthropic" else chat_stream(literals)
    points = sorted({c % len(data) for c in cuts} - {0})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    kw: dict[str, Any] = {"backend": backend, "client": "openai-responses" if responses else None}
    expected = run(converter(literal=False, **kw), [data])
    assert run(converter(**kw), chunks) == expected
    assert run(converter(**kw), by_event(data)) == expected


def test_a_chat_head_that_changes_mid_stream_is_matched_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decoder checks a chunk from ``choices`` on when its head is the last one's; a chunk
    with another head (a new field, another fingerprint) is matched whole, and still carried."""
    frames = chat_stream([b'"a"', b'"b"', b'"c"', b'"d"', b'"e"']).split(b"\n\n")
    frames[3] = frames[3].replace(b'"fp_1"', b'"fp_2","extra":7')
    frames[4] = frames[4].replace(b'"created":1782955818', b'"created":1782955819')
    data = b"\n\n".join(frames)
    expected = run(converter(literal=False, backend="openai-chat"), [data])
    carried = record_carried(monkeypatch, MessagesStreamEncoder)
    assert run(converter(backend="openai-chat"), by_event(data)) == expected
    assert carried == [b'"b"', b'"c"', b'"d"', b'"e"']
