"""``crosswire convert``: the proxy's conversion path, on a saved body, without a proxy.

A request in protocol P becomes the request a P-speaking app would cause upstream in Q; a
response or stream in P (what a P backend answered) becomes what a Q-speaking app would
receive. Both go through ``convert.Exchange`` exactly as in the proxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.protocols import PROTOCOLS, codec
from crosswire.protocols.base import ClientCall, ProtocolName, Target

_REQUEST_KEYS = ("messages", "contents", "input", "prompt", "instructions", "system")


class OfflineError(Exception):
    pass


@dataclass
class Result:
    output: bytes
    notes: list[ir.Note] = field(default_factory=list)


def convert(
    data: bytes, *, source: str, target: str, kind: str = "auto", model: str | None = None
) -> Result:
    src, dst = _protocol(source), _protocol(target)
    if kind == "auto":
        kind = _guess_kind(data)
    report = ir.Report()
    try:
        if kind == "request":
            call = ClientCall(
                protocol=src,
                endpoint="generate",
                model=model if src == "gemini" else None,
                variant=_variant(src),
            )
            body = json.loads(data)
            name = model or (body.get("model") if isinstance(body, dict) else None) or "model"
            exchange = Exchange(
                call=call,
                client=codec(src),
                backend=codec(dst),
                target=Target(protocol=dst, model=name),
                report=report,
            )
            exchange.decode(data)
            upstream = exchange.encode()
            pretty = json.dumps(json.loads(upstream.body), indent=2, ensure_ascii=False).encode()
            query = "&".join(f"{k}={v}" for k, v in upstream.query.items())
            head = f"{upstream.method} {upstream.path}{'?' + query if query else ''}\n".encode()
            return Result(head + pretty, report.notes)
        stream = kind == "stream"
        request = ir.Request(model=model or "model", stream=stream, include_usage=True)
        call = ClientCall(
            protocol=dst,
            endpoint="generate",
            stream=stream if dst == "gemini" else None,
            variant=("sse" if dst == "gemini" and stream else _variant(dst)),
        )
        exchange = Exchange(
            call=call,
            client=codec(dst),
            backend=codec(src),
            target=Target(protocol=src, model=request.model),
            report=report,
        )
        exchange.request = request
        if stream:
            converter = exchange.stream()
            out = converter.feed(data) + converter.close()
            return Result(out, report.notes)
        return Result(exchange.response(data), report.notes)
    except ir.ConversionError as exc:
        raise OfflineError(str(exc)) from exc
    except ValueError as exc:
        raise OfflineError(f"input is not valid JSON: {exc}") from exc


def _protocol(name: str) -> ProtocolName:
    if name not in PROTOCOLS:
        raise OfflineError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    return name  # type: ignore[return-value]


def _variant(protocol: str) -> str | None:
    return {"ollama": "chat", "fim": "fim", "openai-completions": "completions"}.get(protocol)


def _guess_kind(data: bytes) -> str:
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            body = json.loads(data)
        except ValueError:
            return "stream"  # NDJSON
        if isinstance(body, dict) and any(k in body for k in _REQUEST_KEYS):
            return "request"
        return "response"
    return "stream"
