"""Many streams open at once: crosswire against bare mitmproxy, in one run.

    .venv/bin/python bench/concurrency_bench.py                 # N = 100 and 1000
    .venv/bin/python bench/concurrency_bench.py -n 1000 --paths bare,conv2

The app is the official openai SDK (``AsyncOpenAI``, ``stream=True``) configured the way an
unmodified app is: ``HTTPS_PROXY`` and ``SSL_CERT_FILE`` (system CAs + the mitmproxy CA) in its
environment. N streams start together; each is ``--events`` events ``--gap`` seconds apart, so
all N are open at the same time for a few seconds. The clients run in ``--clients`` processes
so that the SDK's own parsing is not what limits the run.

The upstream is a small asyncio HTTP/1.1 server in its own process (a listen backlog of 8192,
no threads): it answers OpenAI Chat or Anthropic Messages streams whose text carries the
request's nonce, so an answer delivered to the wrong stream counts as a wrong text.

Paths (``--paths``):
  bare     mitmdump with a two-hook script: map the URL to the upstream, stream the response
  pass1    crosswire, OpenAI app → openai-chat backend, one key
  conv1    crosswire, OpenAI app → Anthropic backend, one key
  conv2    crosswire, OpenAI app → Anthropic backend, two pooled keys (failover on)

Per path: completed streams, the most streams open at one moment ("open"), the proxy's worst
event-loop lag ("lag s", from a probe script loaded into every proxy), the proxy's CPU time per
stream ("CPU ms": what one instance can sustain is about 1000 / that, streams per second per
core, whatever else runs on the machine), wrong texts, errors by kind, p50/p99 total time and time to the
first token, the proxy process's RSS idle / at peak / after, and (peak − idle) / N. Nothing is
saved with flows (``--save-stream-file`` is off on every path). Never run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from mitmdump_procs import (  # noqa: E402
    Running,
    crosswire_config,
    retarget_script,
    start_mitmdump,
)
from upstream_events import sse_events  # noqa: E402

MITM_SCRIPT = ROOT / "addon" / "crosswire" / "mitm.py"
HOST = "api.openai.com"

PATHS = {
    "bare": "bare mitmdump (map URL + stream)",
    "pass1": "crosswire passthrough, 1 key",
    "conv1": "crosswire OpenAI→Anthropic, 1 key",
    "conv2": "crosswire OpenAI→Anthropic, 2 keys (pooled)",
}


def raise_fd_limit() -> None:
    """Every stream holds several sockets (app↔proxy, proxy↔upstream, and the client's)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---- the upstream (its own process) ------------------------------------------------------


async def _serve_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, events: int, gap: float
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (x.partition(":") for x in lines[1:] if x)
            }
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            if method != "POST":
                payload = b'{"object":"list","data":[]}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                await writer.drain()
                continue
            req = json.loads(body or b"{}")
            content = req.get("messages", [{}])[-1].get("content", "")
            if isinstance(content, list):  # Anthropic content blocks
                content = " ".join(str(b.get("text", "")) for b in content)
            text = str(content)
            nonce = text.rsplit(" ", 1)[-1]
            warm = req.get("model") == "warm"
            n = 2 if warm else events
            chunks = sse_events(path.endswith("/messages"), [f"{nonce}.{i} " for i in range(n)])
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            # Head events at once, then one text event per gap (the first token comes at once).
            for i, c in enumerate(chunks):
                if i > 2 and not warm and i < n + 2:
                    await asyncio.sleep(gap)
                writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def serve_upstream(events: int, gap: float) -> None:
    """Entry of the upstream process: prints its port, serves until killed."""
    raise_fd_limit()

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _serve_one(r, w, events, gap), "127.0.0.1", 0, backlog=8192
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# ---- proxies -----------------------------------------------------------------------------


#: Loaded into every proxy: the worst event-loop lag seen, printed when it grows. A loop that
#: lags seconds behind explains timeouts that no socket setting would.
LAG_PROBE = """
import asyncio, time

async def _watch():
    worst = 0.0
    while True:
        t = time.monotonic()
        await asyncio.sleep(0.1)
        lag = time.monotonic() - t - 0.1
        if lag > worst + 0.05:
            worst = lag
            print(f"LOOPLAG {worst:.3f}", flush=True)

class LagProbe:
    def running(self):
        self.task = asyncio.get_running_loop().create_task(_watch())

addons = [LagProbe()]
"""


def start_path(
    path: str, upstream: str, workdir: Path, confdir: Path, extra_scripts: list[str]
) -> Running:
    workdir.mkdir(parents=True, exist_ok=True)
    probe = workdir / "lag_probe.py"
    probe.write_text(LAG_PROBE)
    scripts = ["-s", str(probe)]
    if path == "bare":
        script = retarget_script(workdir, upstream)
        return start_mitmdump(
            [*scripts, "-s", str(script), "--allow-hosts", HOST], workdir, confdir
        )
    protocol = "openai-chat" if path == "pass1" else "anthropic"
    config = crosswire_config(workdir, upstream, protocol, 2 if path == "conv2" else 1, HOST)
    for extra in extra_scripts:  # before the addon: they may patch what it builds
        scripts += ["-s", extra]
    return start_mitmdump(
        [*scripts, "-s", str(MITM_SCRIPT), "--set", f"crosswire_config={config}"],
        workdir,
        confdir,
    )


# ---- the app (client processes) ----------------------------------------------------------


@dataclass
class StreamResult:
    ok: bool
    wrong: bool
    kind: str  # "" when ok
    detail: str
    total: float
    ttft: float | None
    started: float = 0.0  # wall clock (shared by the app processes)


async def _one_stream(client: Any, nonce: str, events: int, model: str) -> StreamResult:
    import openai

    t0 = time.perf_counter()
    started = time.time()
    ttft: float | None = None
    parts: list[str] = []
    try:
        stream = await client.chat.completions.create(
            model=model,
            stream=True,
            messages=[{"role": "user", "content": f"say {nonce}"}],
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                parts.append(chunk.choices[0].delta.content)
    except openai.APIStatusError as exc:
        detail = exc.response.text[:300] if exc.response is not None else str(exc)[:300]
        return StreamResult(
            False, False, f"HTTP {exc.status_code}", detail, time.perf_counter() - t0, ttft
        )
    except Exception as exc:
        kind = type(exc).__name__
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            kind += f" ({type(cause).__name__})"
        return StreamResult(
            False, False, kind, str(exc)[:300], time.perf_counter() - t0, ttft, started
        )
    total = time.perf_counter() - t0
    text = "".join(parts)
    if text != "".join(f"{nonce}.{k} " for k in range(events)):
        return StreamResult(False, True, "wrong text", text[:120], total, ttft, started)
    return StreamResult(True, False, "", "", total, ttft, started)


def client_worker(
    count: int, offset: int, tag: str, start_at: float, events: int, model: str
) -> list[StreamResult]:
    """One app process: ``count`` concurrent streams, started together at ``start_at``."""
    raise_fd_limit()

    async def main() -> list[StreamResult]:
        import httpx2  # the HTTP client the openai SDK is built on
        import openai

        http_client = openai.DefaultAsyncHttpxClient(  # trust_env: HTTPS_PROXY, SSL_CERT_FILE
            limits=httpx2.Limits(max_connections=count + 10, max_keepalive_connections=count + 10),
        )
        client = openai.AsyncOpenAI(
            api_key="sk-app-key",
            http_client=http_client,
            max_retries=0,
            timeout=httpx2.Timeout(300.0, connect=120.0),
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        n = 2 if model == "warm" else events
        out = await asyncio.gather(
            *[_one_stream(client, f"{tag}x{offset + i}", n, model) for i in range(count)]
        )
        await client.close()
        return list(out)

    return asyncio.run(main())


@dataclass
class PathResult:
    path: str
    n: int
    results: list[StreamResult] = field(default_factory=list)
    rss_idle: int = 0
    rss_peak: int = 0
    rss_after: int = 0
    wall: float = 0.0
    loop_lag: float = 0.0
    cpu: float = 0.0  # the proxy's CPU seconds during the run

    def summary(self) -> dict[str, Any]:
        ok = [r for r in self.results if r.ok]
        totals = sorted(r.total for r in ok)
        ttfts = sorted(r.ttft for r in ok if r.ttft is not None)
        kinds = Counter(r.kind for r in self.results if not r.ok and not r.wrong)
        details: dict[str, str] = {}
        for r in self.results:
            if not r.ok and r.kind not in details:
                details[r.kind] = r.detail
        return {
            "path": self.path,
            "n": self.n,
            "completed": len(ok),
            "wrong": sum(r.wrong for r in self.results),
            "errors": dict(kinds),
            "error_samples": details,
            "p50_total_s": _pct(totals, 50),
            "p99_total_s": _pct(totals, 99),
            "p50_ttft_ms": _pct(ttfts, 50) * 1000,
            "p99_ttft_ms": _pct(ttfts, 99) * 1000,
            "rss_idle_mb": self.rss_idle / 1024,
            "rss_peak_mb": self.rss_peak / 1024,
            "rss_after_mb": self.rss_after / 1024,
            "kb_per_stream": (self.rss_peak - self.rss_idle) / max(1, self.n),
            "wall_s": self.wall,
            "peak_open": peak_open(self.results),
            "loop_lag_s": self.loop_lag,
            "cpu_ms_per_stream": self.cpu * 1000 / max(1, self.n),
        }


def peak_open(results: list[StreamResult]) -> int:
    """The most streams open at one moment: first token received, last not yet."""
    edges = []
    for r in results:
        if r.ttft is not None:
            edges += [(r.started + r.ttft, 1), (r.started + r.total, -1)]
    level = peak = 0
    for _, step in sorted(edges):
        level += step
        peak = max(peak, level)
    return peak


def _pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if p < 100 else values[-1]


def run_load(
    pool: concurrent.futures.ProcessPoolExecutor,
    n: int,
    clients: int,
    tag: str,
    events: int,
    model: str = "m",
) -> list[StreamResult]:
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    start_at = time.time() + 1.5  # every process ready before the first stream starts
    futures, offset = [], 0
    for count in share:
        if count:
            futures.append(pool.submit(client_worker, count, offset, tag, start_at, events, model))
            offset += count
    out: list[StreamResult] = []
    for f in futures:
        out.extend(f.result())
    return out


def measure(
    path: str,
    n: int,
    upstream: str,
    tmp: Path,
    confdir: Path,
    env: dict[str, str],
    args: argparse.Namespace,
) -> PathResult:
    proxy = start_path(path, upstream, tmp / f"{path}-{n}", confdir, args.script)
    bundle = tmp / "bundle.pem"
    if not bundle.exists():
        import certifi

        bundle.write_bytes(
            Path(certifi.where()).read_bytes()
            + b"\n"
            + (confdir / "mitmproxy-ca-cert.pem").read_bytes()
        )
    os.environ.update(
        {
            **env,
            "HTTPS_PROXY": proxy.url,
            "https_proxy": proxy.url,
            "SSL_CERT_FILE": str(bundle),
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
        }
    )
    res = PathResult(path, n)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.clients, mp_context=ctx) as pool:
        warm = run_load(pool, 2 * args.clients, args.clients, "warm", args.events, model="warm")
        if not all(r.ok for r in warm):
            bad = next(r for r in warm if not r.ok)
            raise RuntimeError(
                f"{path}: warm-up failed: {bad.kind} {bad.detail}\n{proxy.log.read_text('latin-1')[-1500:]}"
            )
        time.sleep(1.0)
        res.rss_idle = proxy.rss_kb()
        peak = [res.rss_idle]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak.append(proxy.rss_kb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t, cpu = time.perf_counter(), proxy.cpu_seconds()
        res.results = run_load(pool, n, args.clients, f"{path}{n}", args.events)
        res.wall = time.perf_counter() - t - 1.5
        res.cpu = proxy.cpu_seconds() - cpu
        done.set()
        sampler.join()
        res.rss_peak = max(peak)
        time.sleep(3.0)
        res.rss_after = proxy.rss_kb()
    proxy.stop()
    lags = re.findall(r"^LOOPLAG ([0-9.]+)", proxy.log.read_text("latin-1"), re.M)
    res.loop_lag = max((float(x) for x in lags), default=0.0)
    errors = re.findall(r"^.*(?:Traceback|ERROR|error).*$", proxy.log.read_text("latin-1"), re.M)
    if errors:
        res_log = tmp / f"{path}-{n}" / "proxy.log"
        print(f"    ({len(errors)} error lines in {res_log}; first: {errors[0][:160]})", flush=True)
    return res


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n(medians over the rounds; 'done' is completed streams per round, on average)")
    print(
        f"\n{'path':<44} {'N':>5} {'done':>5} {'wrong':>5} {'p50 s':>6} {'p99 s':>6} "
        f"{'TTFT p50':>8} {'p99 ms':>7} {'RSS idle':>8} {'peak':>6} {'after':>6} {'KB/strm':>7} {'open':>5} {'lag s':>5} {'CPU ms':>6}  errors"
    )
    for r in rows:
        errs = ", ".join(f"{k}×{v}" for k, v in r["errors"].items()) or "-"
        print(
            f"{PATHS[r['path']]:<44} {r['n']:>5} {r['completed'] / r.get('rounds', 1):>5.0f} "
            f"{r['wrong']:>5} "
            f"{r['p50_total_s']:>6.2f} {r['p99_total_s']:>6.2f} {r['p50_ttft_ms']:>8.0f} "
            f"{r['p99_ttft_ms']:>7.0f} {r['rss_idle_mb']:>7.0f}M {r['rss_peak_mb']:>5.0f}M "
            f"{r['rss_after_mb']:>5.0f}M {r['kb_per_stream']:>7.0f} {r['peak_open']:>5} {r['loop_lag_s']:>5.1f} {r['cpu_ms_per_stream']:>6.1f}  {errs}"
        )
    bare = {r["n"]: r for r in rows if r["path"] == "bare"}
    if not bare:
        return
    print(
        "\nratio vs bare mitmdump (same N): p50 total, p99 total, p99 TTFT, KB per stream, completed"
    )
    for r in rows:
        b = bare.get(r["n"])
        if b is None or r["path"] == "bare":
            continue

        def ratio(key: str, r: dict[str, Any] = r, b: dict[str, Any] = b) -> str:
            return f"{r[key] / b[key]:.2f}×" if b[key] else "-"

        print(
            f"  {PATHS[r['path']]:<44} N={r['n']:<5} {ratio('p50_total_s'):>7} {ratio('p99_total_s'):>7} "
            f"{ratio('p99_ttft_ms'):>7} "
            f"{ratio('kb_per_stream'):>7}  {r['completed']}/{r['n'] * r.get('rounds', 1)}"
        )


def merge_rounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (path, N): the median of each figure over the rounds, counts summed."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault((r["path"], r["n"]), []).append(r)
    merged = []
    for (path, n), runs in grouped.items():
        row: dict[str, Any] = {"path": path, "n": n, "rounds": len(runs)}
        for key, value in runs[0].items():
            if key in row:
                continue
            if key in ("completed", "wrong"):
                row[key] = sum(r[key] for r in runs)
            elif key == "errors":
                row[key] = dict(sum((Counter(r[key]) for r in runs), Counter()))
            elif key == "error_samples":
                row[key] = {k: v for r in runs for k, v in r[key].items()}
            elif isinstance(value, (int, float)):
                row[key] = statistics.median(r[key] for r in runs)
            else:
                row[key] = value
        row["per_round"] = [
            {k: r[k] for k in ("p50_total_s", "p99_total_s", "completed")} for r in runs
        ]
        merged.append(row)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", default="100,1000", help="concurrent streams, comma-separated")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"some of {','.join(PATHS)}")
    parser.add_argument("--events", type=int, default=40, help="text events per stream")
    parser.add_argument("--gap", type=float, default=0.075, help="seconds between events")
    parser.add_argument("--clients", type=int, default=2, help="app processes")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every path this many times, each round in a rotated order; the table shows "
        "medians over the rounds (a 2-core machine at N=1000 is saturated: one run is noisy)",
    )
    parser.add_argument(
        "--script",
        action="append",
        default=[],
        help="another mitmproxy script for the crosswire paths (loaded before the addon)",
    )
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.events, args.gap)
        return
    raise_fd_limit()
    import mitmproxy.version

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"mitmproxy {mitmproxy.version.VERSION}, fd limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; "
        f"streams of {args.events} events {args.gap * 1000:.0f} ms apart",
        flush=True,
    )
    up = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-upstream",
            "--events",
            str(args.events),
            "--gap",
            str(args.gap),
        ],
        stdout=subprocess.PIPE,
    )
    assert up.stdout is not None
    upstream = f"http://127.0.0.1:{int(up.stdout.readline())}"
    tmp = Path(tempfile.mkdtemp(prefix="cw-concurrency-"))
    confdir = tmp / "conf"
    confdir.mkdir()
    env = {"PYTHONPATH": str(ROOT)}
    rows: list[dict[str, Any]] = []
    paths = args.paths.split(",")
    try:
        for n in (int(x) for x in args.n.split(",")):
            for rnd in range(args.rounds):
                order = paths[rnd % len(paths) :] + paths[: rnd % len(paths)]
                if args.rounds > 1:
                    print(f"  N={n} round {rnd + 1}/{args.rounds}", flush=True)
                for path in order:
                    res = measure(path, n, upstream, tmp, confdir, env, args)
                    row = res.summary()
                    rows.append(row)
                    errs = ", ".join(f"{k}×{v}" for k, v in row["errors"].items()) or "no errors"
                    print(
                        f"  {PATHS[path]:<44} N={n:<5} {row['completed']}/{n} completed, "
                        f"{row['wrong']} wrong, {errs}; p50 {row['p50_total_s']:.2f} s, "
                        f"TTFT p99 {row['p99_ttft_ms']:.0f} ms, RSS {row['rss_idle_mb']:.0f}→"
                        f"{row['rss_peak_mb']:.0f}→{row['rss_after_mb']:.0f} MB",
                        flush=True,
                    )
                    for kind, detail in row["error_samples"].items():
                        print(f"      {kind}: {detail[:200]}", flush=True)
    finally:
        up.terminate()
        up.wait()
    rows = merge_rounds(rows)
    print_table(rows)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "concurrency_bench.json").write_text(json.dumps(rows, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
