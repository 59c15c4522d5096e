"""Soak: many requests with mixed upstream faults through one crosswire; memory must stay flat.

    .venv/bin/python bench/soak_bench.py              # 100,000 requests
    .venv/bin/python bench/soak_bench.py --quick      # 5,000
    .venv/bin/python bench/soak_bench.py -n 20000 -c 64

One crosswire (mitmdump + the addon, nothing saved) in front of the misbehaving upstream of
the fault tests (``tests/e2e/faulty.py``): a backend per (fault, one key / two keys), so the
single attempt and failover both see every fault. ``-c`` concurrent app
connections send raw HTTP requests of five client protocols (OpenAI Chat, Responses,
Anthropic, Gemini, Ollama), whole and streamed, cycling through a fixed mix: most answers good,
the rest refused connections, resets, TLS failures, connect and read timeouts (0.5 s), stalls
and cuts mid-stream, malformed streams, HTML 502 pages, errors in a 200, and apps that hang up
after the first chunk.

Reported: the proxy's RSS at the start (after a warm-up of 3,000 requests: connection pools,
caches and the allocator's arenas fill in the first thousands), every 10 % of the run and at
the end (growth = end / start − 1, must stay under 10 %), crashes (the proxy exiting; tracebacks in its
log), requests per second, and each answer's shape by kind: ``ok``, ``<status> error`` (a
whole error in the app's protocol), ``stream error event`` (a stream that ended with its
protocol's error event), ``hung up`` — and the bad ones, which should stay at zero except where
the fault tests document it (a malformed event of a same-protocol stream is forwarded as is):
``BAD html``, ``BAD not the protocol's error``, ``BAD truncated``, ``BAD connection``.
Never run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import ssl
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.e2e.faulty import Faulty  # noqa: E402

from mitmdump_procs import Running, start_mitmdump  # noqa: E402

#: (fault, weight) per 100 requests; "hangup" is the slow play left after its first chunk.
MIX = [
    ("ok", 55),
    ("refuse", 4),
    ("reset", 4),
    ("tls", 3),
    ("connect", 2),
    ("hang", 2),
    ("stall", 3),
    ("close", 5),
    ("malformed", 5),
    ("html", 5),
    ("error200", 5),
    ("hangup", 7),
]
TIMED = {"connect", "hang", "stall"}
PROTOCOLS = ["openai-chat", "openai-responses", "anthropic", "gemini", "ollama"]
#: What ends a good stream, and what marks the protocol's error event in one.
TERMINATOR = {
    "openai-chat": b"[DONE]",
    "openai-responses": b"response.completed",
    "anthropic": b"message_stop",
    "gemini": b"finishReason",
    "ollama": b'"done":true',
}
ERROR_EVENT = {
    "openai-chat": b'data: {"error"',
    "openai-responses": b"response.failed",
    "anthropic": b"event: error",
    "gemini": b'{"error"',
    "ollama": b'{"error"',
}


def config(faulty: Faulty) -> str:
    backends, routes = [], []
    faults = [f for f, _ in MIX if f != "hangup"] + ["slow"]
    for fault in faults:
        url = {"refuse": faulty.dead_url, "tls": faulty.tls_url}.get(fault, faulty.url)
        url = faulty.blackhole_url if fault == "connect" else url
        for keys in (1, 2):
            name = f"f-{fault}-k{keys}"
            secrets = ", ".join(f'{{name: k{i}, secret: "sk-soak-{i}"}}' for i in range(keys))
            timeouts = "    connect_timeout: 0.5\n    read_timeout: 0.5\n" if fault in TIMED else ""
            backends.append(
                f"  {name}:\n    protocol: auto\n    base_url: {url}\n{timeouts}"
                f"    max_wait: 0\n    keys: [{secrets}]\n"
            )
            for host in ("", "host: ollama.test, "):
                routes.append(f'  - match: {{{host}model: "{name}"}}\n    backend: {name}\n')
    return "backends:\n" + "".join(backends) + "routes:\n" + "".join(routes)


def request_for(protocol: str, model: str, stream: bool) -> tuple[str, dict[str, str], bytes]:
    msgs = [{"role": "user", "content": "hi"}]
    if protocol == "openai-chat":
        body = {"model": model, "messages": msgs, "stream": stream}
        return "https://api.openai.com/v1/chat/completions", {"authorization": "Bearer x"}, _j(body)
    if protocol == "openai-responses":
        body = {"model": model, "input": "hi", "stream": stream, "store": False}
        return "https://api.openai.com/v1/responses", {"authorization": "Bearer x"}, _j(body)
    if protocol == "anthropic":
        body = {"model": model, "max_tokens": 16, "messages": msgs, "stream": stream}
        headers = {"x-api-key": "x", "anthropic-version": "2023-06-01"}
        return "https://api.anthropic.com/v1/messages", headers, _j(body)
    if protocol == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"https://generativelanguage.googleapis.com/v1beta/models/{model}:{method}"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        return url, {"x-goog-api-key": "x"}, _j(body)
    body = {"model": model, "messages": msgs, "stream": stream}
    return "http://ollama.test/api/chat", {}, _j(body)


def _j(data: object) -> bytes:
    return json.dumps(data).encode()


def shape(protocol: str, status: int, body: bytes, stream: bool) -> str:
    """The answer's kind, as the app would see it."""
    if body.lstrip()[:1] == b"<":
        return "BAD html"
    if status >= 400:
        try:
            data = json.loads(body)
        except ValueError:
            return "BAD not the protocol's error"
        err = data.get("error") if isinstance(data, dict) else None
        good = isinstance(err, str) if protocol == "ollama" else isinstance(err, dict)
        return f"{status} error" if good else "BAD not the protocol's error"
    if ERROR_EVENT[protocol] in body:
        return "stream error event" if stream else "BAD not the protocol's error"
    if not stream:
        try:
            json.loads(body)
        except ValueError:
            return "BAD truncated"
        return "ok"
    return "ok" if TERMINATOR[protocol] in body else "BAD truncated"


async def one(client: httpx.AsyncClient, protocol: str, fault: str, keys: int, stream: bool) -> str:
    hangup = fault == "hangup"
    model = f"f-{'slow' if hangup else fault}-k{keys}"
    stream = stream or hangup
    url, headers, body = request_for(protocol, model, stream)
    headers = {**headers, "content-type": "application/json"}
    try:
        async with client.stream("POST", url, headers=headers, content=body) as resp:
            if hangup and resp.status_code == 200:
                async for _ in resp.aiter_raw():
                    return "hung up"  # leaving closes the connection
            data = await resp.aread()
    except httpx.HTTPError as exc:
        return f"BAD connection ({type(exc).__name__})"
    kind = shape(protocol, resp.status_code, data, stream)
    if kind.startswith("BAD") and fault == "malformed" and stream:
        return "malformed event forwarded (known)"
    return kind


def plan() -> list[tuple[str, str, int, bool]]:
    """A fixed cycle of (protocol, fault, keys, stream): every combination, weighted by MIX."""
    faults = [f for f, w in MIX for _ in range(w)]
    combos = itertools.product(PROTOCOLS, (1, 2), (False, True))
    cycle = []
    for i, (protocol, keys, stream) in enumerate(itertools.cycle(combos)):
        if i >= len(faults) * 4:
            break
        cycle.append((protocol, faults[(i * 7) % len(faults)], keys, stream))
    return cycle


async def run(proxy: Running, total: int, concurrency: int, report_every: int) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    counts: Counter[str] = Counter()
    rss: list[tuple[int, int]] = []
    cycle = plan()
    next_index = itertools.count()
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(proxy=proxy.url, verify=ctx, limits=limits, timeout=timeout) as client,
    ):

        async def worker() -> None:
            nonlocal done
            while (i := next(next_index)) < total:
                protocol, fault, keys, stream = cycle[i % len(cycle)]
                counts[await one(client, protocol, fault, keys, stream)] += 1
                done += 1
                if done % report_every == 0:
                    rss.append((done, proxy.rss_kb()))
                    bad = sum(v for k, v in counts.items() if k.startswith("BAD"))
                    print(f"  {done:>7} requests  RSS {rss[-1][1] / 1024:7.1f} MiB  bad {bad}")

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"counts": counts, "rss": rss, "elapsed": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 requests")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3000, help="requests before the start RSS")
    args = parser.parse_args()
    total = 5000 if args.quick else args.requests
    faulty = Faulty()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    (work / "conf").mkdir()
    cfg = work / "crosswire.yaml"
    cfg.write_text(config(faulty))
    script = ROOT / "addon" / "crosswire" / "mitm.py"
    proxy = start_mitmdump(
        ["-s", str(script), "--set", f"crosswire_config={cfg}"], work, work / "conf"
    )
    try:
        print(f"warm-up: {args.warmup} requests")
        asyncio.run(run(proxy, args.warmup, args.concurrency, max(1, args.warmup)))
        start_rss = proxy.rss_kb()
        print(
            f"soak: {total} requests, {args.concurrency} at a time; RSS {start_rss / 1024:.1f} MiB"
        )
        every = 10_000 if total >= 100_000 else max(1, total // 10)
        result = asyncio.run(run(proxy, total, args.concurrency, every))
        end_rss = proxy.rss_kb()
        crashed = proxy.proc.poll() is not None
    finally:
        proxy.stop()
        faulty.close()
    tracebacks = proxy.log.read_text("latin-1").count("Traceback")
    counts: Counter[str] = result["counts"]  # type: ignore[assignment]
    growth = end_rss / start_rss - 1
    print(f"\n{total} requests in {result['elapsed']:.0f} s ({total / result['elapsed']:.0f}/s)")
    print(f"RSS start {start_rss / 1024:.1f} MiB, end {end_rss / 1024:.1f} MiB: {growth:+.1%}")
    print(f"crashes: {int(crashed)}; tracebacks in the proxy log: {tracebacks}")
    for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>7}  {kind}")
    bad = sum(v for k, v in counts.items() if k.startswith("BAD"))
    ok = growth < 0.10 and not crashed and bad == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
