"""Per-event stream conversion cost for every backend → client pair, in process (no proxy).

    .venv/bin/python bench/convert_bench.py

Each backend protocol's wire stream (1,000 text deltas, plus start and finish) is made by that
protocol's own stream encoder, then converted for every client protocol through the same
``convert.Exchange`` the proxy uses, chunk by chunk as it would arrive. Prints µs per event;
"passthrough" is the usage tap a same-protocol stream costs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.engine.passthrough import Tap
from crosswire.protocols import PROTOCOLS, codec
from crosswire.protocols.base import ClientCall, Target

EVENTS = 1000
VARIANT = {"ollama": "chat", "fim": "fim", "openai-completions": "completions", "gemini": "sse"}
CHAT = ("openai-chat", "openai-responses", "anthropic", "gemini", "ollama")


def call(protocol: str) -> ClientCall:
    return ClientCall(
        protocol=protocol,
        endpoint="generate",
        variant=VARIANT.get(protocol),  # type: ignore[arg-type]
        stream=True if protocol == "gemini" else None,
        model="m",
    )


def wire_stream(protocol: str) -> list[bytes]:
    request = ir.Request(model="m", stream=True, include_usage=True)
    encoder = codec(protocol).stream_encoder(call(protocol), request, ir.Report())  # type: ignore[arg-type]
    events: list[ir.Event] = [
        ir.ResponseStart(id="r1", model="m", usage=ir.Usage(input_tokens=10)),
        ir.PartStart(index=0, part=ir.Text(text="")),
    ]
    events += [ir.PartDelta(index=0, kind="text", text="tok ")] * EVENTS
    events += [
        ir.PartEnd(index=0),
        ir.StreamFinish(
            finish=ir.Finish(reason="stop"), usage=ir.Usage(input_tokens=10, output_tokens=EVENTS)
        ),
    ]
    return [c for c in (encoder.encode(e) for e in events) if c]


def main() -> None:
    protocols = [p for p in CHAT if p in PROTOCOLS]
    print(f"{'backend → client':<40} µs/event")
    for backend in protocols:
        chunks = wire_stream(backend)
        tap_best = float("inf")
        for _ in range(5):
            tap = Tap()
            t = time.perf_counter()
            for c in chunks:
                tap.add(c)
            tap.usage(backend)
            tap_best = min(tap_best, time.perf_counter() - t)
        print(f"{backend + ' passthrough (usage tap)':<40} {tap_best / len(chunks) * 1e6:8.2f}")
        for client in protocols:
            if client == backend:
                continue
            best = float("inf")
            for _ in range(5):
                ex = Exchange(
                    call=call(client),
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
                assert conv.finish is not None, (backend, client, conv.error)
            print(f"{backend + ' → ' + client:<40} {best / len(chunks) * 1e6:8.2f}")


if __name__ == "__main__":
    main()
