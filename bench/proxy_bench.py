"""crosswire's cost against bare mitmproxy doing the same traffic, in one run.

    .venv/bin/python bench/proxy_bench.py [--quick]

Paths: A direct to the loopback upstream; B bare mitmdump retargeting with its built-in
map_remote and a two-line script that streams every response (``flow.response.stream = True``); C crosswire passthrough, one key (no relay);
C2 crosswire passthrough, two keys (the failover relay in the path); D crosswire converting
OpenAI-chat app → Anthropic backend. Workloads: sequential small POSTs (median), one
1,000-event SSE stream (total), and failover (429 on the first key, served by the second).
Then in-process conversion cost per stream event and per whole response, no proxy at all.
Never run in CI: timing tests are flaky; this prints figures for the README.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from tests.e2e.harness import Proxy, Reply, Upstream, reply_from_fixture  # noqa: E402

from mitmdump_procs import Running, start_mitmdump  # noqa: E402

SMALL = reply_from_fixture("openai_chat/nonstream_tool_call.json")
ANTH_SMALL = reply_from_fixture("anthropic/nonstream_text_basic.json")


def sse_1000(protocol: str) -> Reply:
    if protocol == "anthropic":
        head = [
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_b","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}}\n\n',
            b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
        ]
        body = [
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tok "}}\n\n'
        ] * 1000
        tail = [
            b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
            b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1000}}\n\n',
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
        ]
        return Reply(200, {"content-type": "text/event-stream"}, head + body + tail)
    chunk = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
    end = [
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    return Reply(200, {"content-type": "text/event-stream"}, [chunk] * 1000 + end)


def cfg(up: Upstream, protocol: str, keys: int) -> str:
    key_lines = "".join(f'      - {{name: k{i}, secret: "sk-bench-{i}"}}\n' for i in range(keys))
    base = "/v1" if protocol == "openai-chat" else ""
    return (
        f"backends:\n  b:\n    protocol: {protocol}\n    base_url: {up.url}{base}\n    keys:\n{key_lines}"
        f"routes:\n  - match: {{host: api.openai.com}}\n    backend: b\n"
    )


def timed_small(client: httpx.Client, url: str, n: int) -> float:
    samples = []
    for i in range(n):
        t = time.perf_counter()
        r = client.post(
            url, json={"model": "m", "messages": [{"role": "user", "content": f"hi {i}"}]}
        )
        r.read()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def timed_stream(client: httpx.Client, url: str, rounds: int) -> float:
    samples = []
    for i in range(rounds):
        t = time.perf_counter()
        with client.stream(
            "POST",
            url,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": f"s{i}"}]},
        ) as r:
            for _ in r.iter_raw():
                pass
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def bare_mitmdump(up: Upstream, workdir: Path, confdir: Path) -> Running:
    """mitmdump with no addon: the same retargeting with built-ins only."""
    script = workdir / "stream_all.py"
    script.write_text("def responseheaders(flow):\n    flow.response.stream = True\n")
    return start_mitmdump(
        [
            *("--map-remote", f"|https://api.openai.com|{up.url}"),
            *("-s", str(script), "--allow-hosts", "api.openai.com"),
        ],
        workdir,
        confdir,
        log_name="bare.log",
    )


def in_process(rounds: int) -> dict[str, float]:
    """µs per stream event and per whole response, converting without a proxy."""
    from crosswire import ir
    from crosswire.convert import Exchange
    from crosswire.engine.passthrough import Tap
    from crosswire.protocols import PROTOCOLS, codec
    from crosswire.protocols.base import ClientCall, Target

    results: dict[str, float] = {}
    streams = {
        "openai-chat": b"".join(sse_1000("openai-chat").body),  # type: ignore[arg-type]
        "anthropic": b"".join(sse_1000("anthropic").body),
    }  # type: ignore[arg-type]
    wholes = {"openai-chat": SMALL.body, "anthropic": ANTH_SMALL.body}
    protos = [p for p in ("openai-chat", "anthropic", "gemini") if p in PROTOCOLS]
    for backend, body in streams.items():
        chunks = [c + b"\n\n" for c in body.split(b"\n\n") if c]
        for client in protos:
            if client == backend:
                continue
            best = float("inf")
            for _ in range(rounds):
                call = ClientCall(
                    protocol=client,
                    endpoint="generate",
                    stream=True if client == "gemini" else None,  # type: ignore[arg-type]
                    variant="sse" if client == "gemini" else None,
                    model="m",
                )
                ex = Exchange(
                    call=call,
                    client=codec(client),
                    backend=codec(backend),  # type: ignore[arg-type]
                    target=Target(protocol=backend, model="m"),
                )  # type: ignore[arg-type]
                ex.request = ir.Request(model="m", stream=True, include_usage=True)
                conv = ex.stream()
                t = time.perf_counter()
                for c in chunks:
                    conv.feed(c)
                conv.close()
                best = min(best, time.perf_counter() - t)
            results[f"stream {backend} → {client} (µs/event)"] = best / len(chunks) * 1e6
            whole = wholes[backend]
            t = time.perf_counter()
            for _ in range(200):
                ex2 = Exchange(
                    call=ClientCall(protocol=client, endpoint="generate", model="m"),
                    client=codec(client),  # type: ignore[arg-type]
                    backend=codec(backend),
                    target=Target(protocol=backend, model="m"),
                )  # type: ignore[arg-type]
                ex2.request = ir.Request(model="m")
                ex2.response(whole)  # type: ignore[arg-type]
            results[f"whole {backend} → {client} (µs/response)"] = (
                (time.perf_counter() - t) / 200 * 1e6
            )
        tap = Tap()
        t = time.perf_counter()
        for _ in range(rounds):
            tap = Tap()
            for c in chunks:
                tap.add(c)
            tap.usage(backend)
        results[f"passthrough tap {backend} (µs/event)"] = (
            (time.perf_counter() - t) / rounds / len(chunks) * 1e6
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, rounds = (100, 3) if args.quick else (400, 7)
    up = Upstream()
    tmp = Path(tempfile.mkdtemp())
    confdir = tmp / "conf"
    confdir.mkdir()
    rows: dict[str, dict[str, float]] = {}

    def run(
        label: str,
        proxy_url: str | None,
        ca: Path | None,
        *,
        stream_protocol: str,
        small: Reply,
        path: str = "https://api.openai.com/v1/chat/completions",
    ) -> None:
        client = (
            httpx.Client(proxy=proxy_url, verify=str(ca) if ca else True, timeout=30)
            if proxy_url
            else httpx.Client(timeout=30)
        )
        url = path if proxy_url else f"{up.url}/v1/chat/completions"
        up.handler = lambda rec: small
        timed_small(client, url, 20)  # warm-up
        small_ms = timed_small(client, url, n)
        up.handler = lambda rec: sse_1000(stream_protocol)
        stream_ms = timed_stream(client, url, rounds)
        client.close()
        rows[label] = {"small_ms": small_ms, "sse1000_ms": stream_ms}
        print(
            f"{label:<48} small POST {small_ms:7.2f} ms   1000-event SSE {stream_ms:8.1f} ms",
            flush=True,
        )

    print(
        f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
        f"mitmproxy {__import__('mitmproxy.version').version.VERSION}"
    )
    run("A direct", None, None, stream_protocol="openai-chat", small=SMALL)
    bare = bare_mitmdump(up, tmp, confdir)
    run(
        "B bare mitmdump (map_remote)",
        bare.url,
        bare.ca,
        stream_protocol="openai-chat",
        small=SMALL,
    )
    bare.stop()
    for label, protocol, keys, stream_protocol, small in (
        ("C crosswire passthrough, 1 key", "openai-chat", 1, "openai-chat", SMALL),
        ("C2 crosswire passthrough, 2 keys (relay)", "openai-chat", 2, "openai-chat", SMALL),
        ("D crosswire openai-chat app → anthropic", "anthropic", 1, "anthropic", ANTH_SMALL),
    ):
        workdir = tmp / label.split()[0]
        workdir.mkdir()
        proxy = Proxy(cfg(up, protocol, keys), workdir, confdir)
        run(label, proxy.url, proxy.ca, stream_protocol=stream_protocol, small=small)
        proxy.stop()
    # Failover: first key 429, second key serves; median extra time over a plain relay request.
    workdir = tmp / "failover"
    workdir.mkdir()
    proxy = Proxy(cfg(up, "openai-chat", 2), workdir, confdir)
    limited = Reply(
        429,
        {"content-type": "application/json", "retry-after": "0.001"},
        b'{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}',
    )
    flip = {"n": 0}

    def handler(rec):  # type: ignore[no-untyped-def]
        flip["n"] += 1
        return limited if flip["n"] % 2 == 1 else SMALL

    up.handler = handler
    client = httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=30)
    samples = []
    for i in range(n // 2):
        t = time.perf_counter()
        client.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": f"f{i}"}]},
        ).read()
        samples.append(time.perf_counter() - t)
    client.close()
    proxy.stop()
    rows["failover (429 then 200)"] = {"small_ms": statistics.median(samples) * 1000}
    print(
        f"{'F failover: 429 on key 1, served by key 2':<48} small POST {rows['failover (429 then 200)']['small_ms']:7.2f} ms"
    )
    b = rows["B bare mitmdump (map_remote)"]
    print("\nratios crosswire / bare mitmproxy:")
    for label in (
        "C crosswire passthrough, 1 key",
        "C2 crosswire passthrough, 2 keys (relay)",
        "D crosswire openai-chat app → anthropic",
    ):
        r = rows[label]
        print(
            f"  {label:<46} small {r['small_ms'] / b['small_ms']:.2f}×   SSE {r['sse1000_ms'] / b['sse1000_ms']:.2f}×"
        )
    print("\nin-process conversion (no proxy):")
    costs = in_process(rounds)
    for k, v in costs.items():
        print(f"  {k:<52} {v:8.1f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "proxy_bench.json").write_text(json.dumps({"rows": rows, "in_process": costs}, indent=2))
    up.close()


if __name__ == "__main__":
    main()
