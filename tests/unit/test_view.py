"""The "crosswire" content view, on flows carrying exactly what the addon stores.

Flows come from mitmproxy's own test helpers (``tflow``/``tutils``); the metadata is the
secret-free record ``Record.to_dict()`` builds plus the stored bodies (``engine.record``).
"""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import contentviews, flowfilter, http
from mitmproxy.contentviews import Metadata
from mitmproxy.test import taddons, tflow, tutils

from crosswire import view, view_body
from crosswire.engine.record import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "sk-ant-api03-NEVERSHOWN-999"


def record(**overrides: Any) -> dict[str, Any]:
    """What ``Live.record()`` stores for an OpenAI app served by an Anthropic backend."""
    base: dict[str, Any] = {
        "mode": "convert",
        "client_protocol": "openai-chat",
        "backend_protocol": "anthropic",
        "route": "route 2",
        "backend": "claude",
        "key": "team-b",
        "model_in": "gpt-4o",
        "model_out": "claude-sonnet-4-5",
        "stream": True,
        "attempts": ["claude/team-b"],
        "failures": [],
        "client": None,
        "notes": [
            {"action": "invented", "field": "max_tokens", "reason": "4096 (Anthropic requires it)"},
            {
                "action": "dropped",
                "field": "seed",
                "reason": "Anthropic Messages has no such parameter",
            },
        ],
    }
    base.update(overrides)
    return base


def converted_flow(**record_overrides: Any) -> http.HTTPFlow:
    flow = tflow.tflow(
        req=tutils.treq(
            method=b"POST",
            host="127.0.0.1",
            port=4010,
            scheme=b"http",
            path=b"/v1/messages",
            headers=http.Headers(x_api_key="<redacted: team-b>", content_type="application/json"),
            content=json.dumps(
                {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 4096,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                    "stream": True,
                }
            ).encode(),
        ),
        resp=tutils.tresp(
            headers=http.Headers(content_type="text/event-stream"),
            content=(
                b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n'
                b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n'
                b"data: [DONE]\n\n"
            ),
        ),
    )
    flow.metadata[META] = record(**record_overrides)
    flow.metadata[ORIGINAL_URL] = "POST https://api.openai.com/v1/chat/completions"
    flow.metadata[ORIGINAL_REQUEST] = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
            "seed": 3,
        }
    ).encode()
    flow.metadata[UPSTREAM_BODY] = _fixture_body("anthropic/stream_text_basic.json")
    return flow


def passthrough_flow() -> http.HTTPFlow:
    flow = tflow.tflow(
        req=tutils.treq(
            method=b"POST",
            host="127.0.0.1",
            port=4020,
            scheme=b"http",
            path=b"/v1beta/models/gemini-renamed:generateContent",
            content=b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}',
        ),
        resp=tutils.tresp(
            headers=http.Headers(content_type="application/json"),
            content=json.loads((FIXTURES / "gemini/nonstream_text_basic.json").read_text())[
                "response"
            ]["body"].encode(),
        ),
    )
    flow.metadata[META] = record(
        mode="passthrough",
        client_protocol="gemini",
        backend_protocol="gemini",
        route="route 1",
        backend="g",
        key="team-g",
        model_in="gemini-2.5-flash",
        model_out="gemini-renamed",
        stream=False,
        attempts=["g/team-g"],
        notes=[],
    )
    flow.metadata[ORIGINAL_URL] = (
        "POST https://generativelanguage.googleapis.com/v1beta/models/"
        "gemini-2.5-flash:generateContent?key=APP-KEY-123"
    )
    return flow


def _fixture_body(name: str) -> bytes:
    return str(json.loads((FIXTURES / name).read_text())["response"]["body"]).encode()


def show(flow: http.HTTPFlow, side: str = "request", data: bytes | None = None) -> str:
    message = flow.request if side == "request" else flow.response
    assert message is not None
    body = message.content if data is None else data
    text = view.CrosswireContentview().prettify(
        body or b"", Metadata(flow=flow, http_message=message)
    )
    return text.replace("\u00a0", " ")


def columns(text: str) -> list[tuple[str, str]]:
    """(left, right) per row of a side-by-side rendering (rows end trimmed)."""
    rows = []
    for row in text.splitlines():
        left, _, right = row.partition(" │")
        rows.append((left.rstrip(), right.removeprefix(" ")))
    return rows


# ---- converted flows --------------------------------------------------------------------


def test_request_tab_puts_the_apps_request_beside_the_converted_one() -> None:
    text = show(converted_flow())
    rows = columns(text)
    assert ("APP → crosswire (openai-chat)", "crosswire → UPSTREAM (anthropic)") in rows
    assert (
        "POST https://api.openai.com/v1/chat/completions",
        "POST http://127.0.0.1:4010/v1/messages",
    ) in rows
    left = "\n".join(a for a, _ in rows)
    right = "\n".join(b for _, b in rows)
    assert '"seed": 3' in left and '"seed"' not in right
    assert '"max_tokens": 4096' in right and '"max_tokens"' not in left
    assert '"model": "gpt-4o"' in left and '"model": "claude-sonnet-4-5"' in right


def test_response_tab_shows_both_streams_as_numbered_events_in_order() -> None:
    rows = columns(show(converted_flow(), "response"))
    assert ("UPSTREAM answered (anthropic)", "APP received (openai-chat)") in rows
    left = [re.match(r"#(\d+) (\S+)", a) for a, _ in rows]
    upstream = [(int(m[1]), m[2]) for m in left if m]
    assert upstream == [
        (1, "message_start"),
        (2, "content_block_start"),
        (3, "ping"),
        (4, "content_block_delta"),
        (5, "content_block_stop"),
        (6, "message_delta"),
        (7, "message_stop"),
    ]
    app = [b for _, b in rows if re.match(r"#\d+ ", b)]
    assert [e.split(" ", 1)[0] for e in app] == ["#1", "#2", "#3"]
    assert app[2] == "#3 [DONE]"
    assert any("HTTP 200 OK · text/event-stream" in b for _, b in rows)


def test_every_note_is_listed_with_its_reason_dropped_first() -> None:
    """The conversion report: what was lost comes before what was supplied."""
    text = show(converted_flow())
    notes = text[text.index("What the conversion changed (2):") :].splitlines()
    assert re.match(r"\s+dropped\s+seed\s+Anthropic Messages has no such parameter", notes[1])
    assert re.match(r"\s+invented\s+max_tokens\s+4096 \(Anthropic requires it\)", notes[2])
    assert "What the conversion changed" in show(converted_flow(), "response")


def test_long_reasons_wrap_under_the_reason_column() -> None:
    long_reason = "the target has no equivalent; " * 8
    text = show(converted_flow(notes=[{"action": "clamped", "field": "x", "reason": long_reason}]))
    rows = text[text.index("What the conversion changed") :].splitlines()[1:]
    assert len(rows) > 2
    start = rows[0].index("the target")
    assert all(r[:start].strip() == "" and r[start] != " " for r in rows[1:])


def test_a_conversion_that_lost_nothing_says_so() -> None:
    assert "Nothing was dropped, renamed, invented or clamped." in show(converted_flow(notes=[]))


def test_header_names_route_backend_key_models_and_failover() -> None:
    flow = converted_flow(
        attempts=["claude/team-a", "claude/team-b"], failures=["claude/team-a 429"]
    )
    flow.marked = ":arrows_counterclockwise:"
    head = show(flow).split("\n \n", 1)[0]
    assert head.splitlines()[0] == "crosswire · openai-chat → anthropic · converted · streamed"
    assert "route 2 · backend claude · key team-b" in head
    assert "model gpt-4o → claude-sonnet-4-5" in head
    assert "attempts: claude/team-a → claude/team-b" in head
    assert "failed attempts: claude/team-a 429" in head
    assert "served after a failover" in head


@pytest.mark.parametrize(
    ("marker", "meaning"),
    [
        (":x:", "failed"),
        (":no_entry:", "refused"),
        (":arrows_counterclockwise:", "failover"),
        (":warning:", "stream ended with an error"),
    ],
)
def test_each_marker_crosswire_sets_is_explained(marker: str, meaning: str) -> None:
    flow = converted_flow()
    flow.marked = marker
    assert meaning in show(flow).split("\n \n", 1)[0]


def test_a_failed_flow_shows_the_error_and_no_upstream_answer() -> None:
    flow = converted_flow()
    flow.error = tflow.terr("upstream connection reset")
    del flow.metadata[UPSTREAM_BODY]
    flow.marked = ":x:"
    assert "failed: upstream connection reset" in show(flow)
    assert "no upstream answer stored" in show(flow, "response")


# ---- same-protocol flows ----------------------------------------------------------------


def test_same_protocol_flow_shows_url_model_and_key_changes() -> None:
    text = show(passthrough_flow())
    assert "Same protocol: crosswire forwarded the exchange unchanged except for:" in text
    assert re.search(r"url\s+POST https://generativelanguage\.googleapis\.com/v1beta/models/", text)
    assert re.search(r"→\s+POST http://127\.0\.0\.1:4020/v1beta/models/gemini-renamed", text)
    assert "model  gemini-2.5-flash → gemini-renamed" in text
    assert "key    the app's key was replaced by pool key team-g" in text
    assert "│" not in text  # one column: the body is the app's own


def test_same_protocol_response_shows_the_answer_once() -> None:
    text = show(passthrough_flow(), "response")
    assert "The upstream's answer, as the app got it" in text
    assert text.count('"text": "2 + 2 = **4**"') == 1


def test_a_same_protocol_flow_refused_after_unreachable_upstreams_says_so() -> None:
    flow = passthrough_flow()
    flow.metadata[META]["mode"] = "refused"
    assert "Same protocol (refused): what crosswire changed before answering:" in show(flow)


def test_credentials_in_urls_are_never_shown() -> None:
    """Gemini apps may put their key in ``?key=`` — the stored URL must not leak it."""
    flow = passthrough_flow()
    flow.request.query["key"] = "POOL-KEY-SHOULD-NOT-SHOW"
    text = show(flow) + show(flow, "response")
    flow.error = tflow.terr("cannot connect to http://h/v1?key=IN-AN-ERROR")
    text += show(flow)
    assert "APP-KEY-123" not in text and "POOL-KEY-SHOULD-NOT-SHOW" not in text
    assert "IN-AN-ERROR" not in text and "key=<redacted>" in text


def test_the_view_never_reads_headers_so_no_secret_can_appear() -> None:
    flow = converted_flow()
    flow.request.headers["x-api-key"] = SECRET
    flow.request.headers["authorization"] = f"Bearer {SECRET}"
    assert SECRET not in show(flow) + show(flow, "response")


# ---- bodies -----------------------------------------------------------------------------


def test_long_base64_and_data_urls_are_abbreviated() -> None:
    image = "iVBORw0KGgo" * 12_000  # 132 000 characters: about 99 kB of image
    flow = converted_flow()
    flow.metadata[ORIGINAL_REQUEST] = json.dumps(
        {"messages": [{"content": [{"image_url": {"url": f"data:image/png;base64,{image}"}}]}]}
    ).encode()
    body = {"messages": [{"content": [{"source": {"type": "base64", "data": image}}]}]}
    text = show(flow, data=json.dumps(body).encode())
    assert '"data:image/png;base64,<base64 99 kB>"' in text  # the note is never split
    assert '"data": "<base64 99 kB>"' in text
    assert image[:200] not in text
    assert len(text) < 5000


def test_long_text_keeps_its_start_and_says_how_much_is_left() -> None:
    words = "lorem ipsum dolor " * 1000  # 18 000 characters
    text = show(converted_flow(), data=json.dumps({"prompt": words}).encode())
    assert f"<{len(words) - view.TEXT_KEEP} more characters>" in text


def test_short_ids_and_signatures_stay_whole() -> None:
    body = {"id": "toolu_01A09q90qw90lq917835lq9", "sig": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgx"}
    text = show(converted_flow(), data=json.dumps(body).encode())
    assert body["id"] in text and body["sig"] in text


def test_gemini_stream_as_a_json_array_is_an_event_list() -> None:
    flow = converted_flow(client_protocol="gemini", backend_protocol="openai-chat")
    array = _fixture_body("gemini/stream_json_array_function_call.json")
    flow.metadata[UPSTREAM_BODY] = b"data: {}\n\n"
    text = show(flow, "response", data=array)
    right = [b for _, b in columns(text) if re.match(r"#\d+ \{", b)]
    assert len(right) == len(json.loads(array))


def test_a_stream_array_cut_by_the_size_bound_still_lists_its_whole_events() -> None:
    flow = converted_flow(client_protocol="gemini", backend_protocol="openai-chat")
    array = _fixture_body("gemini/stream_json_array_function_call.json")
    cut = array[: array.index(b"\n,") + 40]  # inside the second element
    text = show(flow, "response", data=cut)
    app = "\n".join(b for _, b in columns(text))
    assert "#1 {" in app and "#2" not in app
    assert "the stored copy ends here" in app


def test_an_sse_copy_cut_mid_event_says_so() -> None:
    flow = converted_flow()
    body = _fixture_body("anthropic/stream_text_basic.json")
    flow.metadata[UPSTREAM_BODY] = body[: body.index(b"message_delta") + 30]
    rows = columns(show(flow, "response"))
    assert ("(the stored copy ends inside this event)", "") in rows
    assert "stored copy ends" not in "\n".join(b for _, b in rows)  # the app's is whole


def test_ndjson_streams_are_numbered_lines() -> None:
    """Ollama streams one JSON object per line."""
    flow = converted_flow(client_protocol="ollama", backend_protocol="openai-chat")
    lines = [json.dumps({"message": {"content": c}, "done": c == "."}) for c in ("Hi", "!", ".")]
    text = show(flow, "response", data=("\n".join(lines) + "\n").encode())
    assert [b.split(" ", 1)[0] for _, b in columns(text) if re.match(r"#\d", b)] == [
        "#1",
        "#2",
        "#3",
    ]


def test_sse_with_crlf_separators_is_split_per_event() -> None:
    """Gemini ``alt=sse`` separates events with CRLF CRLF."""
    flow = converted_flow(client_protocol="gemini", backend_protocol="openai-chat")
    body = _fixture_body("gemini/sse_text_basic.json")
    events = [b for b in re.split(rb"\r\n\r\n|\n\n", body) if b.strip()]
    text = show(flow, "response", data=body)
    assert sum(1 for _, b in columns(text) if re.match(r"#\d+ ", b)) == len(events)


def test_gzip_upstream_copy_is_inflated() -> None:
    flow = converted_flow()
    flow.metadata[UPSTREAM_BODY] = gzip.compress(_fixture_body("anthropic/stream_text_basic.json"))
    assert "#7 message_stop" in show(flow, "response")


@pytest.mark.parametrize(
    "fixture",
    sorted(
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.glob("*/*.json")
        if json.loads(p.read_text()).get("stream")
    ),
)
def test_every_recorded_stream_renders_within_the_width(fixture: str) -> None:
    flow = converted_flow()
    flow.metadata[UPSTREAM_BODY] = _fixture_body(fixture)
    text = show(flow, "response")
    assert "#1 " in text
    assert max(len(line) for line in text.splitlines()) <= view.WIDTH


def test_blank_lines_are_kept_for_mitmweb() -> None:
    """mitmweb draws each line as a <div>: an empty one would collapse."""
    assert "\n\n" not in show(converted_flow()) and "\n \n" in show(converted_flow())


# ---- bounds and odd data ----------------------------------------------------------------


def test_a_huge_stream_is_rendered_quickly_and_bounded() -> None:
    event = b'data: {"choices":[{"delta":{"content":"token "}}]}\n\n'
    flow = converted_flow()
    flow.metadata[UPSTREAM_BODY] = event * 60_000  # 3 MB
    started = time.perf_counter()
    text = show(flow, "response", data=event * 60_000)
    assert time.perf_counter() - started < 3
    assert len(text.splitlines()) < 2 * view.MAX_LINES + 100
    assert f"… {60_000 - view.MAX_EVENTS} more events (see the Raw view)" in text


def test_a_huge_request_is_cut_with_a_pointer_to_the_raw_view() -> None:
    messages = [{"role": "user", "content": f"turn {i}"} for i in range(5000)]
    text = show(converted_flow(), data=json.dumps({"messages": messages}).encode())
    assert "more lines (see the Raw view)" in text
    assert len(text.splitlines()) < view.MAX_LINES + 100


def test_bodies_above_the_parse_limit_show_their_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view_body, "PARSE_LIMIT", 1000)
    text = show(converted_flow(), data=json.dumps({"x": "y" * 5000}).encode())
    assert "too large to parse" in text


@pytest.mark.parametrize(
    "odd",
    [
        {"notes": "not a list", "attempts": 5, "failures": None},
        {"notes": [1, None, {"action": 3, "field": None}], "route": 7},
        {"mode": None, "client_protocol": None, "backend_protocol": ["x"]},
        {"model_in": {"a": 1}, "model_out": b"bytes", "key": 0},
        {"stream": "yes"},
    ],
)
def test_odd_records_never_raise(odd: dict[str, Any]) -> None:
    flow = converted_flow(**odd)
    for side in ("request", "response"):
        assert "crosswire" in show(flow, side)


@pytest.mark.parametrize(
    ("original", "upstream", "data"),
    [
        (12345, None, b""),
        ("a str body", ["list"], b"\xff\xfe\x00binary\x00" * 50),
        (b"{truncated json", b"data: {not json}\n\n", b"[1, 2,"),
        (b"[" * 100_000, b"{" * 50_000, b'{"a":' * 20_000),
        (bytearray(b'{"ok": true}'), memoryview(b"event: x\n\n"), "\u2028\x00".encode()),
        (b"\x1f\x8b not really gzip", b"\x1f\x8b\x08\x00", b"\x1f\x8b"),
    ],
)
def test_odd_bodies_never_raise(original: object, upstream: object, data: bytes) -> None:
    flow = converted_flow()
    flow.metadata[ORIGINAL_REQUEST] = original
    flow.metadata[UPSTREAM_BODY] = upstream
    for side in ("request", "response"):
        text = show(flow, side, data=data)
        assert "APP" in text


def test_deep_nesting_is_cut_not_recursed() -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"a": [deep]}
    text = show(converted_flow(), data=json.dumps(deep).encode())
    assert "<…>" in text and "leaf" not in text


def test_flows_crosswire_did_not_route_are_left_to_other_views() -> None:
    flow = tflow.tflow(resp=True)
    cv = view.CrosswireContentview()
    meta = Metadata(flow=flow, http_message=flow.request)
    assert cv.render_priority(b"{}", meta) < 0
    assert "Not a flow crosswire routed" in cv.prettify(b"{}", meta)
    assert "Not a flow crosswire routed" in cv.prettify(b"{}", Metadata())


def test_mitmproxy_picks_the_view_automatically_for_routed_flows() -> None:
    view.register()
    flow = converted_flow()
    plain = tflow.tflow(resp=True)
    with taddons.context():  # type: ignore[no-untyped-call]
        result = contentviews.prettify_message(flow.request, flow)
        other = contentviews.prettify_message(plain.request, plain)
    assert result.view_name == "crosswire"
    assert "crosswire → UPSTREAM (anthropic)" in result.text
    assert other.view_name != "crosswire"


# ---- the filters docs/debugging.md recommends -------------------------------------------


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("~comment anthropic", True),
        ("~comment 'key team-b'", True),
        ("~comment dropped", True),
        ("~comment failover", True),
        ("~comment gemini", False),
        ("~marked", True),
        ('~comment "openai-chat → anthropic"', True),
        ("~comment refused", False),
        ("~comment anthropic & ~marked", True),
        ("~comment anthropic & !~marked", False),
        ("~marker arrows", True),
        ("~marker :x:", False),
        ("~marker no_entry", False),
        ("~marker warning", False),
        ("~meta \"'backend': 'claude'\"", True),
        ("~meta \"'key': 'team-a'\"", False),
    ],
)
def test_documented_filters_find_the_flows_crosswire_annotates(  # docs/debugging.md
    expression: str, matches: bool
) -> None:
    flow = converted_flow(failures=["claude/team-a 429"])
    flow.comment = (
        "openai-chat → anthropic · route 2 · backend claude · key team-b · gpt-4o → "
        "claude-sonnet-4-5 · failover: claude/team-a 429 → served by claude/team-b · dropped: seed"
    )
    flow.marked = ":arrows_counterclockwise:"
    assert bool(flowfilter.match(expression, flow)) is matches
