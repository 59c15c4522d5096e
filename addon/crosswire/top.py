"""``crosswire top``: the running proxy's key pool, live, refreshed in place.

It polls ``http://crosswire.local/keys`` through the proxy (``keyview.poll``, as ``crosswire
keys`` does) and draws one row per backend and key with rich's ``Live`` on the terminal's
alternate screen: plain text and colours, no mouse, so it works the same over SSH; Ctrl-C
leaves cleanly.

``/keys`` gives counters and the pool's own sliding-minute budgets (``rpm_used``/``tpm_used``);
what it does not give — errors in the last minute, latency percentiles over the last minute,
clients' request rates — is computed here from successive polls (the latency histogram's
cumulative bucket counts, subtracted between the oldest poll in the window and now).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crosswire.keyview import poll
from crosswire.pool.model import LATENCY_BUCKETS

#: Seconds of poll history kept for the per-minute figures.
WINDOW = 60.0

Snapshot = dict[tuple[str, str], dict[str, Any]]


def quantile(q: float, cumulative: Sequence[float], total: float) -> float | None:
    """The q-quantile of a histogram with cumulative counts per ``LATENCY_BUCKETS`` bound and
    ``total`` observations, interpolated inside the bucket (as Prometheus'
    ``histogram_quantile``). Past the last bound: that bound (shown as ">")."""
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(LATENCY_BUCKETS, cumulative, strict=False):
        if count >= rank and count > below:
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return LATENCY_BUCKETS[-1] * 1.0001  # beyond the last bound


@dataclass(slots=True)
class Row:
    """One key's figures as shown."""

    state: dict[str, Any]
    errors_recent: int = 0
    requests_recent: int = 0
    p50: float | None = None
    p95: float | None = None
    latency_recent: bool = True


@dataclass(slots=True)
class Tracker:
    """Successive polls within ``WINDOW`` seconds, for the per-minute figures."""

    history: deque[tuple[float, Snapshot, dict[str, Any]]] = field(default_factory=deque)

    def add(self, at: float, data: Mapping[str, Any]) -> None:
        keys = {
            (str(s.get("backend")), str(s.get("name", s.get("key")))): dict(s)
            for s in data.get("keys") or ()
            if isinstance(s, Mapping)
        }
        self.history.append((at, keys, dict(data.get("clients") or {})))
        while len(self.history) > 2 and at - self.history[1][0] >= WINDOW:
            self.history.popleft()

    def rows(self) -> list[Row]:
        if not self.history:
            return []
        _, old, _ = self.history[0]
        _, now, _ = self.history[-1]
        out = []
        for ident, s in now.items():
            before = old.get(ident, {})
            row = Row(
                s,
                errors_recent=_delta(s, before, "errors"),
                requests_recent=_delta(s, before, "requests"),
            )
            buckets = [float(c) for c in s.get("latency_buckets") or ()]
            total = float(s.get("latency_count") or 0)
            old_buckets = [float(c) for c in before.get("latency_buckets") or ()]
            recent_total = total - float(before.get("latency_count") or 0)
            if len(self.history) > 1 and recent_total > 0 and len(old_buckets) == len(buckets):
                buckets = [a - b for a, b in zip(buckets, old_buckets, strict=True)]
                total = recent_total
            else:
                row.latency_recent = False
            row.p50, row.p95 = quantile(0.5, buckets, total), quantile(0.95, buckets, total)
            out.append(row)
        return sorted(out, key=lambda r: (str(r.state.get("backend")), str(r.state.get("name"))))

    def client_rates(self) -> dict[str, int]:
        """Requests per client over the window."""
        if not self.history:
            return {}
        old, now = self.history[0][2], self.history[-1][2]
        return {name: _delta(c, old.get(name, {}), "requests") for name, c in now.items()}

    def span(self) -> float:
        return self.history[-1][0] - self.history[0][0] if self.history else 0.0


def _delta(now: Mapping[str, Any], before: Mapping[str, Any], key: str) -> int:
    return max(0, int(now.get(key) or 0) - int(before.get(key) or 0))


def _n(value: Any) -> str:
    """1234 → 1.2k: counts stay readable in narrow columns."""
    n = float(value or 0)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}".removesuffix(".0") + unit
    return f"{n:.0f}"


def _budget(used: Any, limit: Any) -> Text:
    text = Text(_n(used) + (f"/{_n(limit)}" if limit else ""))
    if limit and float(used or 0) >= 0.9 * float(limit):
        text.stylize("yellow")
    return text


def _latency(row: Row) -> Text:
    """p50/p95 in one cell (dim when over the whole run, not the last minute)."""
    if row.p50 is None or row.p95 is None:
        return Text("-", style="dim")
    top_bound = LATENCY_BUCKETS[-1]
    shown = "/".join(
        f">{top_bound:.0f}" if v > top_bound else f"{v:.2f}" for v in (row.p50, row.p95)
    )
    return Text(shown + "s", style="" if row.latency_recent else "dim")


def _state(s: Mapping[str, Any], now: float) -> Text:
    """Short, so the row fits a narrow terminal; the reason goes under the table."""
    if s.get("disabled"):
        return Text("disabled", style="bold red")
    until = s.get("cooling_until")
    if until:
        return Text(f"cooling {max(0.0, float(until) - now):.0f}s", style="yellow")
    return Text("ok", style="green")


def _reasons(rows: Sequence[Row]) -> list[Text]:
    """Why each cooling or disabled key is so (the pool's words, which may be long)."""
    out = []
    for row in rows:
        s = row.state
        who = f"{s.get('backend')}/{s.get('name', s.get('key'))}"
        if s.get("disabled"):
            out.append(Text(f"{who} disabled: {s.get('disabled_reason') or '?'}", style="red"))
        elif s.get("cooling_until"):
            clock = dt.datetime.fromtimestamp(float(s["cooling_until"])).strftime("%H:%M:%S")
            reason = s.get("cooldown_reason") or s.get("cool_reason") or "?"
            out.append(Text(f"{who} cooling until {clock}: {reason}", style="yellow"))
    return out


def _key_table(rows: Sequence[Row], now: float) -> Table:
    """One row per key; LEFT (provider-reported remaining) only when some key has it."""
    left_known = any(
        r.state.get("remaining_requests") is not None or r.state.get("remaining_tokens") is not None
        for r in rows
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("BACKEND", no_wrap=True)
    table.add_column("KEY", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    columns = ["FLIGHT", "RPM", "TPM", "REQS", "ERRS", "ERR/1M", "LAST", "P50/P95"]
    columns += ["TOK I/O/C"] + (["LEFT R/T"] if left_known else [])
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    previous = None
    for row in rows:
        s = row.state
        backend = str(s.get("backend"))
        last = s.get("last_status")
        cells: list[RenderableType] = [
            backend if backend != previous else "",
            str(s.get("name", s.get("key"))),
            _state(s, now),
            f"{s.get('in_flight', 0)}"
            + (f"/{s['max_concurrency']}" if s.get("max_concurrency") else ""),
            _budget(s.get("rpm_used", row.requests_recent), s.get("rpm_limit")),
            _budget(s.get("tpm_used", 0), s.get("tpm_limit")),
            _n(s.get("requests")),
            _n(s.get("errors")),
            Text(str(row.errors_recent), style="red" if row.errors_recent else ""),
            Text(str(last or "-"), style="red" if last and int(last) >= 400 else ""),
            _latency(row),
            "/".join(_n(s.get(k)) for k in ("input_tokens", "output_tokens", "cached_tokens")),
        ]
        if left_known:
            left = (s.get("remaining_requests"), s.get("remaining_tokens"))
            cells.append("/".join("-" if v is None else _n(v) for v in left))
        table.add_row(*cells)
        previous = backend
    if not rows:
        table.add_row("(no keys configured)")
    return table


def render(
    data: Mapping[str, Any] | None,
    tracker: Tracker,
    *,
    where: str,
    interval: float,
    now: float,
    problem: str | None = None,
) -> RenderableType:
    clock = dt.datetime.fromtimestamp(now).strftime("%H:%M:%S")
    title = Text.assemble(
        ("crosswire top", "bold"),
        f"  {where}  {clock}  every {interval:g}s  ",
        ("Ctrl-C quits", "dim"),
    )
    if problem is not None:
        return Group(title, Text(""), Text(problem, style="bold red"))
    rows = tracker.rows()
    window = max(1.0, min(WINDOW, tracker.span()))
    table = _key_table(rows, now)
    parts: list[RenderableType] = [title, Text(""), table]
    reasons = _reasons(rows)
    if reasons:
        parts += [Text(""), *reasons]
    clients = (data or {}).get("clients") or {}
    if clients:
        rates = tracker.client_rates()
        ctable = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("CLIENT", "REQS", "REQS/1M", "TOKENS"):
            ctable.add_column(name, justify="left" if name == "CLIENT" else "right")
        for name, c in sorted(clients.items()):
            ctable.add_row(
                name, _n(c.get("requests")), str(rates.get(name, 0)), _n(c.get("tokens"))
            )
        parts += [Text(""), ctable]
    in_flight = sum(int(r.state.get("in_flight") or 0) for r in rows)
    recent = sum(r.requests_recent for r in rows)
    parts += [
        Text(""),
        Text(
            f"{in_flight} in flight · {recent} requests in {window:.0f}s · "
            "ERR/1M, P50/P95: last minute (dim: since start)",
            style="dim",
        ),
    ]
    return Group(*parts)


def run(
    host: str,
    port: int,
    metrics_host: str,
    *,
    interval: float = 1.0,
    once: bool = False,
    console: Console | None = None,
) -> int:
    """The live view until Ctrl-C (exit 0); ``once``: one frame to stdout, 1 if unreachable."""
    console = console or Console()
    tracker = Tracker()
    where = f"{host}:{port}"

    def frame() -> RenderableType:
        now = time.time()
        try:
            data = poll(host, port, metrics_host)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return render(
                None,
                tracker,
                where=where,
                interval=interval,
                now=now,
                problem=f"no crosswire answers at {where} ({reason}); retrying",
            )
        tracker.add(now, data)
        return render(data, tracker, where=where, interval=interval, now=now)

    if once:
        view = frame()
        console.print(view)
        return 1 if not tracker.history else 0
    try:
        with Live(
            frame(), console=console, screen=True, auto_refresh=False, redirect_stderr=False
        ) as live:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return 0
