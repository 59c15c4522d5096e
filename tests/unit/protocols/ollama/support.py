"""Shared helpers of the Ollama codec tests: calls, decode/encode shortcuts, and the strict
check of what an Ollama app or server receives against the ``ollama`` package's types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ollama

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.contract.sdk_types import answer_violations, request_violations

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FILES = sorted((FIXTURES / "ollama").glob("*.json"))
C = codec("ollama")
CHAT = ClientCall(protocol="ollama", endpoint="generate", variant="chat", path="/api/chat")
GENERATE = ClientCall(
    protocol="ollama", endpoint="generate", variant="generate", path="/api/generate"
)
TARGET = Target(protocol="ollama", model="m")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def decode(
    body: dict[str, Any], *, generate: bool = False, report: ir.Report | None = None
) -> ir.Request:
    call = GENERATE if generate else CHAT
    return C.decode_request(call, json.dumps(body).encode(), report or ir.Report())


def encode(
    request: ir.Request, report: ir.Report | None = None, target: Target = TARGET
) -> dict[str, Any]:
    """The upstream body, checked against ``ollama.ChatRequest`` / ``GenerateRequest``."""
    up = C.encode_request(request, target, report or ir.Report())
    assert request_ok(up.path, up.body, up.stream) == []
    body: dict[str, Any] = json.loads(up.body)
    return body


def request_ok(path: str, body: bytes, stream: bool) -> list[str]:
    return request_violations("ollama", path=path, body=body, stream=stream)


def assert_answer_ok(body: bytes, *, stream: bool, generate: bool = False) -> None:
    """Strictly what the app's SDK types describe, and what the SDK itself parses."""
    variant = "generate" if generate else "chat"
    assert answer_violations("ollama", body, stream=stream, variant=variant) == []
    model = ollama.GenerateResponse if generate else ollama.ChatResponse
    for line in body.splitlines() if stream else [body]:
        if line.strip() and b'"error"' not in line[:9]:
            model.model_validate_json(line)


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in body.splitlines() if ln.strip()]
