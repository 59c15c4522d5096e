"""crosswire's cost against bare mitmproxy doing the same traffic, in one run, with an SDK app.

    .venv/bin/python bench/proxy_bench.py [--quick] [--rounds R]

The app is the official openai SDK (a raw HTTP client is several times faster through a proxy
and hides where the time goes). Paths, all through TLS interception of api.openai.com:
bare mitmdump (a two-line script retargets to the upstream and streams every answer), crosswire
passthrough with one key and with two pooled keys, crosswire converting (OpenAI app → Anthropic
backend) with one key and with two pooled keys; and, with the official anthropic SDK as the
app (Claude Code's case), bare mitmdump on api.anthropic.com against crosswire converting to an
OpenAI Chat backend — those rows' ratios are against that bare row. The upstream is an asyncio
server in its own process, so the app, the proxy and the upstream never share an interpreter.

A last passthrough row turns crosswire's layer path off (``crosswire_in_layer=false``): every
request then takes mitmproxy's hook rounds, as it does when another addon would act on it, so
the row shows what crosswire's own work costs against bare mitmdump's.

Paths are interleaved so that load that comes and goes on the machine hits every path alike:
small requests request by request (each time in a shuffled order; a round's figure is the
median request), streams round by round; figures are medians over rounds, and each ratio is
taken within a round before the median. Besides wall time, the proxy process's own CPU time per
request / per event is reported: it is what crosswire adds, and is far less noisy.
Workloads: a small whole answer; a 1,000-event stream as fast as it comes; per-event latency of
a stream whose events are 20 ms apart (each event carries its send time). A small answer's id
carries when the upstream had the request and when it sent the answer, so each path's extra
time is also split into its request leg and its answer leg. Never run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2  # the HTTP client both SDKs are built on
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mitmdump_procs import (  # noqa: E402
    Running,
    crosswire_config,
    retarget_script,
    start_mitmdump,
)
from upstream_events import sse_events  # noqa: E402

HOST = "api.openai.com"
#: The SDKs' own limits, except that a connection idle for 5 s is kept: a round's streams keep a
#: path idle about that long, and without this whether a path's burst paid a new TLS handshake
#: through the proxy depended on its place in the list (the last of nine did: 1.4×, not 1.1×).
KEEP_CONNECTIONS = httpx2.Limits(
    max_connections=1000, max_keepalive_connections=100, keepalive_expiry=300
)
ANTHROPIC_HOST = "api.anthropic.com"
MITM_SCRIPT = ROOT / "addon" / "crosswire" / "mitm.py"

# ---- the upstream (its own process) ------------------------------------------------------

OPENAI_WHOLE = json.dumps(
    {
        "id": "STAMP",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
).encode()
ANTHROPIC_WHOLE = json.dumps(
    {
        "id": "STAMP",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": [{"type": "text", "text": "4"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
).encode()

#: Replaced in each whole answer by when the request arrived and when the answer left
#: (``t<arrived>_<sent>``, wall clock): the app then tells its request leg from its answer leg.
STAMP = b"STAMP"
_STAMPED = re.compile(r"t(\d+\.\d+)_(\d+\.\d+)")


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Whole answers, or streams described by the last user message: ``burst N`` (N events at
    once) or ``spaced N GAP`` (each event stamped with its send time, GAP seconds apart)."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            req = json.loads(await reader.readexactly(length) or b"{}")
            anthropic = path.endswith("/messages")
            if not req.get("stream"):
                body = (ANTHROPIC_WHOLE if anthropic else OPENAI_WHOLE).replace(
                    STAMP, b"t%.6f_%.6f" % (arrived, time.time())
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                continue
            content = req["messages"][-1]["content"]
            if isinstance(content, list):
                content = content[0]["text"]
            kind, n, *rest = str(content).split()
            gap = float(rest[0]) if rest else 0.0
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            if kind == "burst":
                data = b"".join(sse_events(anthropic, ["tok "] * int(n)))
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                frame = sse_events(anthropic, [])
                cut = 2 if anthropic else 1  # events before the first delta
                for c in frame[:cut]:
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                await writer.drain()
                for _ in range(int(n)):
                    await asyncio.sleep(gap)
                    c = sse_events(anthropic, [f"{time.time():.6f} "])[cut]
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                    await writer.drain()
                for c in frame[cut:]:
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


def serve_upstream() -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# ---- the proxies -------------------------------------------------------------------------


@dataclass
class Path_:
    label: str
    proxy: Running
    client: openai.OpenAI | anthropic.Anthropic
    #: Whose app this path serves: the anthropic SDK's (its ratios are against its own bare row).
    anthropic_app: bool
    small: list[float] = field(default_factory=list)
    small_cpu: list[float] = field(default_factory=list)
    #: Per round, the median request leg (app sends → upstream has the request head) and
    #: answer leg (upstream sends → the app has the parsed answer) of a small request.
    request_leg: list[float] = field(default_factory=list)
    answer_leg: list[float] = field(default_factory=list)
    burst: list[float] = field(default_factory=list)
    burst_cpu: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)


def start(label: str, upstream: str, tmp: Path, confdir: Path) -> Path_:
    work = tmp / label.replace(" ", "_")
    work.mkdir()
    anthropic_app = "anthropic app" in label
    if label.startswith("bare mitmdump"):
        # "buffered": streams only event streams, and reads a whole answer before passing it on
        # — as crosswire must (it checks a whole answer and reads its usage before the app
        # gets it), so the row shows what that alone costs.
        stream = (
            "'event-stream' in flow.response.headers.get('content-type', '')"
            if "buffered" in label
            else "True"
        )
        script = retarget_script(work, upstream, stream)
        host = ANTHROPIC_HOST if anthropic_app else HOST
        running = start_mitmdump(["-s", str(script), "--allow-hosts", host], work, confdir)
    elif anthropic_app:  # Claude Code's case: an Anthropic app on a chat backend
        config = crosswire_config(work, upstream, "openai-chat", 1, ANTHROPIC_HOST)
        running = start_mitmdump(
            ["-s", str(MITM_SCRIPT), "--set", f"crosswire_config={config}"], work, confdir
        )
    else:
        protocol = "anthropic" if "convert" in label else "openai-chat"
        keys = 2 if "2 keys" in label else 1
        config = crosswire_config(work, upstream, protocol, keys, HOST)
        # "hook rounds": every request takes mitmproxy's request/responseheaders hook rounds,
        # as when another addon would act on it (docs/mitmproxy.md §18): crosswire's own cost.
        no_layer = ["--set", "crosswire_in_layer=false"] if "hook rounds" in label else []
        running = start_mitmdump(
            ["-s", str(MITM_SCRIPT), "--set", f"crosswire_config={config}", *no_layer],
            work,
            confdir,
        )
    ctx = ssl.create_default_context(cafile=str(running.ca))
    client: openai.OpenAI | anthropic.Anthropic
    if anthropic_app:
        client = anthropic.Anthropic(
            api_key="sk-ant-app",
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(
                proxy=running.url, verify=ctx, timeout=60, limits=KEEP_CONNECTIONS
            ),
        )
    else:
        client = openai.OpenAI(
            api_key="sk-app",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(
                proxy=running.url, verify=ctx, timeout=60, limits=KEEP_CONNECTIONS
            ),
        )
    return Path_(label, running, client, anthropic_app)


def ask(client: openai.OpenAI | anthropic.Anthropic, text: str = "hi", stream: bool = False) -> Any:
    messages: Any = [{"role": "user", "content": text}]
    if isinstance(client, anthropic.Anthropic):
        return client.messages.create(model="m", max_tokens=64, messages=messages, stream=stream)
    return client.chat.completions.create(model="m", messages=messages, stream=stream)


def texts(events: Any) -> Any:
    """The text pieces of a streamed answer, whichever SDK streamed it."""
    for event in events:
        if getattr(event, "type", None) == "content_block_delta":
            yield getattr(event.delta, "text", None)
        elif getattr(event, "choices", None):
            yield event.choices[0].delta.content


def timed(path: Path_, fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, the proxy's CPU seconds) spent on ``fn``."""
    cpu = path.proxy.cpu_ns()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t, (path.proxy.cpu_ns() - cpu) / 1e9


def small_round(paths: list[Path_], small_n: int, rng: random.Random) -> None:
    """Small requests, one path after another request by request (in a shuffled order each
    time): every path meets the machine's passing load alike, at the scale of one request.
    Each proxy's CPU is read once around the round (an idle proxy spends next to nothing while
    the others serve): reading ``/proc`` for every thread of a proxy around each request would
    put that work between the requests being compared."""
    times: dict[str, list[float]] = {p.label: [] for p in paths}
    legs: dict[str, tuple[list[float], list[float]]] = {p.label: ([], []) for p in paths}
    cpu_before = {p.label: p.proxy.cpu_ns() for p in paths}
    order = list(paths)
    for _ in range(small_n):
        rng.shuffle(order)
        for p in order:
            t, sent = time.perf_counter(), time.time()
            answer = ask(p.client)
            times[p.label].append(time.perf_counter() - t)
            stamped = _STAMPED.search(answer.id)
            if stamped:
                legs[p.label][0].append(float(stamped[1]) - sent)
                legs[p.label][1].append(time.time() - float(stamped[2]))
    for p in paths:
        p.small.append(statistics.median(times[p.label]))
        out, back = legs[p.label]
        if out:
            p.request_leg.append(statistics.median(out))
            p.answer_leg.append(statistics.median(back))
        p.small_cpu.append((p.proxy.cpu_ns() - cpu_before[p.label]) / 1e9 / small_n)


def stream_round(path: Path_, burst_events: int) -> None:
    def burst() -> None:
        for _ in ask(path.client, f"burst {burst_events}", stream=True):
            pass

    wall, cpu = timed(path, burst)
    path.burst.append(wall)
    path.burst_cpu.append(cpu / burst_events)
    delays = []
    for text in texts(ask(path.client, "spaced 25 0.02", stream=True)):
        if text and text.strip():
            delays.append(time.time() - float(text))
    path.latency.append(statistics.median(delays))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument(
        "--only", default="", help="comma-separated words: only the paths whose label has one"
    )
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 15)
    small_n, burst_events = (20, 1000) if args.quick else (40, 1000)
    tmp = Path(tempfile.mkdtemp())
    confdir = tmp / "conf"
    confdir.mkdir()
    up = subprocess.Popen(
        [sys.executable, __file__, "--upstream"], stdout=subprocess.PIPE, text=True
    )
    assert up.stdout is not None
    upstream = f"http://127.0.0.1:{up.stdout.readline().strip()}"
    labels = [
        "bare mitmdump",
        "bare mitmdump, buffered",
        "passthrough, 1 key",
        "passthrough, 2 keys",
        "passthrough, 1 key, hook rounds",
        "convert to anthropic, 1 key",
        "convert to anthropic, 2 keys",
        "bare mitmdump, anthropic app",
        "anthropic app → openai-chat, 1 key",
    ]
    if args.only:
        words = args.only.split(",")
        labels = labels[:1] + [x for x in labels[1:] if any(w in x for w in words)]
    paths = [start(label, upstream, tmp, confdir) for label in labels]
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"mitmproxy {__import__('mitmproxy.version').version.VERSION}, openai {openai.__version__}; "
        f"{rounds} interleaved rounds",
        flush=True,
    )
    try:
        for p in paths:  # warm-up: connections, caches, bytecode
            for _ in range(10):
                ask(p.client)
            for _ in ask(p.client, "burst 10", stream=True):
                pass
        rng = random.Random(1)
        for r in range(rounds):
            small_round(paths, small_n, rng)
            for p in paths:
                stream_round(p, burst_events)
            print(f"  round {r + 1}/{rounds} done", flush=True)
        report(paths, burst_events)
    finally:
        for p in paths:
            p.client.close()
            p.proxy.stop()
        up.terminate()


def report(paths: list[Path_], events: int) -> None:
    """Each ratio is against the bare mitmdump serving the same app (the openai SDK's, or the
    anthropic SDK's for the rows that say so)."""
    med = statistics.median

    def bare_for(p: Path_) -> Path_:
        return next(
            b for b in paths if b.label.startswith("bare") and b.anthropic_app == p.anthropic_app
        )

    def ratio(p: Path_, attr: str) -> float:
        bare = bare_for(p)
        return med([a / b for a, b in zip(getattr(p, attr), getattr(bare, attr), strict=True)])

    print(
        f"\n{'path':<36} {'small req':>10} {'ratio':>6} {'CPU/req':>9} │ "
        f"{'1000-ev burst':>13} {'ratio':>6} {'CPU/event':>9} │ {'event latency':>13} {'ratio':>6}"
    )
    rows = []
    for p in paths:
        row = {
            "path": p.label,
            "small_ms": med(p.small) * 1000,
            "small_ratio": ratio(p, "small"),
            "small_cpu_us": med(p.small_cpu) * 1e6,
            "burst_ms": med(p.burst) * 1000,
            "burst_ratio": ratio(p, "burst"),
            "event_cpu_us": med(p.burst_cpu) * 1e6,
            "latency_ms": med(p.latency) * 1000,
            "latency_ratio": ratio(p, "latency"),
        }
        rows.append(row)
        print(
            f"{p.label:<36} {row['small_ms']:8.2f}ms {row['small_ratio']:5.2f}× "
            f"{row['small_cpu_us']:7.0f}µs │ {row['burst_ms']:11.1f}ms {row['burst_ratio']:5.2f}× "
            f"{row['event_cpu_us']:7.1f}µs │ {row['latency_ms']:11.2f}ms {row['latency_ratio']:5.2f}×"
        )
    print(
        "\nwhere a small request's extra time goes, against the same app's bare mitmdump "
        "(medians;\nrequest leg: the app sends → the upstream has the request; answer leg: "
        "the upstream sends → the app has the answer)"
    )
    for p, row in zip(paths, rows, strict=True):
        bare = bare_for(p)
        if not p.request_leg or not bare.request_leg or p is bare:
            continue
        row["request_leg_us"] = (med(p.request_leg) - med(bare.request_leg)) * 1e6
        row["answer_leg_us"] = (med(p.answer_leg) - med(bare.answer_leg)) * 1e6
        print(
            f"{p.label:<36} request leg {row['request_leg_us']:+6.0f}µs   "
            f"answer leg {row['answer_leg_us']:+6.0f}µs"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "proxy_bench.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] == ["--upstream"]:
        serve_upstream()
    else:
        main()
