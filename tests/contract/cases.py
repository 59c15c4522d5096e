"""The recorded exchanges of tests/fixtures as contract cases: each recorded request converted
to every backend protocol, each recorded answer converted for every client protocol — through
``convert.Exchange``, exactly as the proxy converts them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from crosswire import ir
from crosswire.convert import Exchange
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, ProtocolName, Target, UpstreamCall
from crosswire.routing import detect, to_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: Backend sides a request is encoded for: (protocol, dialect).
BACKENDS: tuple[tuple[ProtocolName, str], ...] = (
    ("openai-chat", "openai"),
    ("openai-chat", "mistral"),
    ("openai-responses", "openai"),
    ("anthropic", "openai"),
    ("gemini", "openai"),
    ("ollama", "openai"),
    ("fim", "openai"),
    ("openai-completions", "openai"),
)

#: App sides an answer is encoded for: (protocol, dialect, variant). Gemini's stream variant is
#: chosen per case (sse and json-array).
CLIENTS: tuple[tuple[ProtocolName, str, str | None], ...] = (
    ("openai-chat", "openai", None),
    ("openai-chat", "mistral", None),
    ("openai-responses", "openai", None),
    ("anthropic", "openai", None),
    ("gemini", "openai", None),
    ("fim", "mistral", "fim"),
    ("openai-completions", "openai", "completions"),
    ("ollama", "openai", "chat"),
    ("ollama", "openai", "generate"),
)
_FIM_CLIENTS = {("fim", "fim"), ("openai-completions", "completions"), ("ollama", "generate")}

_FIXTURE_PROTOCOL: dict[str, tuple[ProtocolName, str]] = {
    "openai-chat": ("openai-chat", "openai"),
    "mistral-chat": ("openai-chat", "mistral"),
    "openai-responses": ("openai-responses", "openai"),
    "anthropic-messages": ("anthropic", "openai"),
    "gemini": ("gemini", "openai"),
    "mistral-fim": ("fim", "mistral"),
    "ollama": ("ollama", "openai"),
}


class Refused(Exception):
    """The conversion is refused by design (a ConversionError): nothing to validate."""


@cache
def fixture_names() -> tuple[str, ...]:
    return tuple(
        str(p.relative_to(FIXTURES).with_suffix("")) for p in sorted(FIXTURES.glob("*/*.json"))
    )


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def recorded_call(rec: dict[str, Any]) -> ClientCall:
    """The ClientCall routing makes for the recorded request line (as the proxy would)."""
    req = rec["request"]
    path, _, qs = req["path"].partition("?")
    query = dict(parse_qsl(qs))
    found = detect("POST", path, query, {})
    if found is not None:
        return to_call(found, "POST", path, query, {}, host=req.get("host", ""))
    protocol, dialect = _FIXTURE_PROTOCOL[rec["protocol"]]  # e.g. an Azure deployment path
    return ClientCall(protocol=protocol, endpoint="generate", path=path, dialect=dialect)


# ---- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestCase:
    fixture: str
    backend: ProtocolName
    dialect: str

    @property
    def id(self) -> str:
        suffix = f"({self.dialect})" if self.dialect != "openai" else ""
        return f"{self.fixture}->{self.backend}{suffix}"


def request_cases() -> list[RequestCase]:
    """Every recorded request × every backend; code-completion-only backends get only the FIM
    requests (a chat request routed there is refused by design, tested in the unit suite)."""
    out = []
    for name in fixture_names():
        fim = load(name)["protocol"] == "mistral-fim"
        out += [
            RequestCase(name, b, d)
            for b, d in BACKENDS
            if fim or b not in ("fim", "openai-completions")
        ]
    return out


def upstream_request(case: RequestCase) -> UpstreamCall:
    """The recorded request as crosswire sends it to ``case.backend``."""
    rec = load(case.fixture)
    call = recorded_call(rec)
    ex = Exchange(
        call=call,
        client=codec(call.protocol),
        backend=codec(case.backend),
        target=Target(protocol=case.backend, model="target-model", dialect=case.dialect),
    )
    try:
        ex.decode(json.dumps(rec["request"]["body"]).encode())
        return ex.encode()
    except ir.ConversionError as exc:
        raise Refused(f"{type(exc).__name__}: {exc}") from exc


# ---- answers ---------------------------------------------------------------------------


Mode = Literal["whole", "stream", "whole-as-stream", "error"]
#: Apps whose SDK types an error body: OpenAI's ``{"error": ErrorObject}``, Anthropic's
#: ``ErrorResponse`` (google-genai, mistralai and ollama read errors without a model).
ERROR_CLIENTS = frozenset(
    {("openai-chat", "openai"), ("openai-responses", "openai"), ("anthropic", "openai")}
)


@dataclass(frozen=True)
class AnswerCase:
    fixture: str
    client: ProtocolName
    dialect: str
    variant: str | None
    mode: Mode

    @property
    def id(self) -> str:
        flavour = self.variant or (self.dialect if self.dialect != "openai" else "")
        name = f"{self.client}({flavour})" if flavour else self.client
        return f"{self.fixture}->{name}-{self.mode}"

    @property
    def stream(self) -> bool:
        return self.mode not in ("whole", "error")


def answer_cases() -> list[AnswerCase]:
    cases = []
    for name in fixture_names():
        rec = load(name)
        backend, _ = _FIXTURE_PROTOCOL[rec["protocol"]]
        if rec["response"]["status"] >= 400:
            cases += [
                AnswerCase(name, client, dialect, variant, "error")
                for client, dialect, variant in CLIENTS
                if (client, dialect) in ERROR_CLIENTS
            ]
            continue
        modes: tuple[Mode, ...] = ("stream",) if rec["stream"] else ("whole", "whole-as-stream")
        for client, dialect, variant in CLIENTS:
            fim_client = (client, variant) in _FIM_CLIENTS
            if backend == "fim" and not fim_client:
                continue  # a chat app is never routed to a FIM-only backend
            for mode in modes:
                variants = (
                    ["sse", "json-array"] if client == "gemini" and mode != "whole" else [variant]
                )
                cases += [AnswerCase(name, client, dialect, v, mode) for v in variants]
    return cases


def _fim_body(client: ProtocolName, stream: bool) -> dict[str, Any]:
    return {"model": "m", "prompt": "def add(a, b):\n    ", "suffix": "\n", "stream": stream}


def app_answer(case: AnswerCase) -> bytes:
    """What an app speaking ``case.client`` receives for the recorded upstream answer."""
    rec = load(case.fixture)
    backend, backend_dialect = _FIXTURE_PROTOCOL[rec["protocol"]]
    recorded = recorded_call(rec)
    call = ClientCall(
        protocol=case.client,
        endpoint="generate",
        model="app-model" if case.client == "gemini" else None,
        stream=case.stream if case.client == "gemini" else None,
        variant=case.variant,
        dialect=case.dialect,
    )
    ex = Exchange(
        call=call,
        client=codec(case.client),
        backend=codec(backend),
        target=Target(protocol=backend, model=rec.get("model") or "m", dialect=backend_dialect),
    )
    try:
        if (case.client, case.variant) in _FIM_CLIENTS:
            body = json.dumps(_fim_body(case.client, case.stream)).encode()
            request = codec(case.client).decode_request(call, body, ir.Report())
        else:
            body = json.dumps(rec["request"]["body"]).encode()
            request = codec(recorded.protocol).decode_request(recorded, body, ir.Report())
        ex.request = dataclasses.replace(request, stream=case.stream)
        ex.encode()
    except ir.ConversionError as exc:
        raise Refused(f"{type(exc).__name__}: {exc}") from exc
    response = rec["response"]
    raw = response["body"].encode()
    if case.mode == "error":
        return ex.error(response["status"], response["headers"], raw).body
    if case.mode != "stream":
        return ex.response(raw, response["headers"].get("content-type", "application/json"))
    converter = ex.stream()
    out = b"".join(converter.feed(chunk) for chunk in _chunks(raw))
    return out + converter.close()


def _chunks(raw: bytes) -> list[bytes]:
    """The body in a few network-sized pieces, split mid-event (codecs must reassemble)."""
    size = max(1, len(raw) // 3 + 1)
    return [raw[i : i + size] for i in range(0, len(raw), size)]
