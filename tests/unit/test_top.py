"""``crosswire top``'s figures and screen, from /keys payloads (no proxy, no terminal)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from crosswire import top
from crosswire.pool.model import LATENCY_BUCKETS

NOW = 1_800_000_000.0


def key(name: str, **over: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "backend": "claude",
        "name": name,
        "in_flight": 0,
        "max_concurrency": None,
        "cooling_until": None,
        "cooldown_reason": None,
        "disabled": False,
        "disabled_reason": None,
        "requests": 0,
        "errors": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "rpm_used": 0,
        "rpm_limit": None,
        "tpm_used": 0,
        "tpm_limit": None,
        "remaining_requests": None,
        "remaining_tokens": None,
        "last_status": None,
        "latency_sum": 0.0,
        "latency_count": 0,
        "latency_buckets": [0] * len(LATENCY_BUCKETS),
    }
    state.update(over)
    return state


def screen(data: dict[str, Any], tracker: top.Tracker, **kw: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(top.render(data, tracker, where="127.0.0.1:8080", interval=1, now=NOW, **kw))
    return console.export_text()


def test_quantile_interpolates_inside_buckets() -> None:
    # 10 requests: 4 under 0.5 s, 6 between 0.5 and 1 s.
    cumulative = [4, 10, 10, 10, 10, 10, 10, 10, 10]
    assert top.quantile(0.5, cumulative, 10) == pytest.approx(0.5 + 0.5 * (1 / 6))
    assert top.quantile(0.2, cumulative, 10) == pytest.approx(0.25)
    assert top.quantile(0.5, [0] * 9, 0) is None
    assert top.quantile(0.95, [0] * 9, 3) > LATENCY_BUCKETS[-1]  # all past the last bound


def test_recent_figures_come_from_successive_polls() -> None:
    tracker = top.Tracker()
    slow = [0, 0, 0, 5, 5, 5, 5, 5, 5]  # 5 requests between 2.5 and 5 s
    tracker.add(
        NOW - 30, {"keys": [key("a", requests=5, errors=1, latency_count=5, latency_buckets=slow)]}
    )
    fast = [3, 3, 3, 8, 8, 8, 8, 8, 8]  # then 3 more, all under 0.5 s
    tracker.add(
        NOW,
        {"keys": [key("a", requests=8, errors=3, latency_count=8, latency_buckets=fast)]},
    )
    (row,) = tracker.rows()
    assert (row.requests_recent, row.errors_recent) == (3, 2)
    assert row.latency_recent
    assert row.p50 is not None and row.p50 < 0.5  # the window's, not since start
    assert tracker.span() == 30


def test_the_window_keeps_a_minute_and_falls_back_to_since_start() -> None:
    tracker = top.Tracker()
    buckets = [0, 2, 2, 2, 2, 2, 2, 2, 2]
    for i in range(5):
        tracker.add(
            NOW + 30 * i, {"keys": [key("a", requests=2, latency_count=2, latency_buckets=buckets)]}
        )
    assert tracker.span() <= top.WINDOW + 30
    (row,) = tracker.rows()
    assert row.requests_recent == 0
    assert not row.latency_recent  # nothing in the window: since start, shown dim
    assert row.p50 == pytest.approx(0.75)


def test_screen_shows_state_budgets_errors_and_latency() -> None:
    tracker = top.Tracker()
    first = {
        "keys": [
            key("team-a", requests=10, errors=1),
            key("team-b", requests=4),
            key("old", backend="gemini", disabled=True, disabled_reason="401 invalid key"),
        ],
        "clients": {"ci-bot": {"requests": 3, "tokens": 1200}},
    }
    tracker.add(NOW - 10, first)
    now = {
        "keys": [
            key(
                "team-a",
                requests=12,
                errors=3,
                in_flight=2,
                max_concurrency=8,
                rpm_used=12,
                rpm_limit=60,
                tpm_used=95_000,
                tpm_limit=100_000,
                cooling_until=NOW + 25,
                cooldown_reason="429 rate limited",
                last_status=429,
                input_tokens=1500,
                output_tokens=300,
                cached_tokens=1000,
                remaining_requests=40,
                remaining_tokens=5000,
                latency_count=2,
                latency_buckets=[0, 2, 2, 2, 2, 2, 2, 2, 2],
            ),
            key("team-b", requests=4, last_status=200),
            key("old", backend="gemini", disabled=True, disabled_reason="401 invalid key"),
        ],
        "clients": {"ci-bot": {"requests": 5, "tokens": 2400}},
    }
    tracker.add(NOW, now)
    text = screen(now, tracker)
    lines = text.splitlines()
    assert lines[0].startswith("crosswire top  127.0.0.1:8080")
    header = next(line for line in lines if line.startswith("BACKEND"))
    for column in ("KEY", "STATE", "FLIGHT", "RPM", "TPM", "ERR/1M", "P50/P95", "LEFT R/T"):
        assert column in header
    a = next(line for line in lines if " team-a " in line)
    assert "cooling 25s" in a
    assert "claude/team-a cooling until" in text and "429 rate limited" in text
    assert "2/8" in a and "12/60" in a and "95k/100k" in a
    assert " 2 " in a  # two errors in the last minute
    assert "0.75/0.97s" in a  # p50, p95 of two requests in (0.5, 1]
    assert "1.5k/300/1k" in a and "40/5k" in a
    b = next(line for line in lines if " team-b " in line)
    assert b.split()[0] == "team-b"  # same backend: its name once
    assert "gemini/old disabled: 401 invalid key" in text
    assert "ci-bot" in text and "2.4k" in text
    assert "2 in flight" in text


def test_screen_when_the_proxy_does_not_answer() -> None:
    text = screen({}, top.Tracker(), problem="no crosswire answers at 127.0.0.1:8080; retrying")
    assert "no crosswire answers" in text
    empty = screen({"keys": []}, top.Tracker())
    assert "no keys configured" in empty


def test_once_against_nothing_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    console = Console(width=120, color_system=None, force_terminal=False)
    assert top.run("127.0.0.1", port, "crosswire.local", once=True, console=console) == 1
    assert "no crosswire answers" in capsys.readouterr().out
