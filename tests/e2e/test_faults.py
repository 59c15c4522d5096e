"""The fault matrix: every upstream failure ends in the app's own protocol, the key comes back,
and the proxy goes on serving.

One crosswire serves the module. Routes pick the fault from the model name
(``f-<fault>-k<keys>-<client>-<s|w>``): a backend per case, each pointing at the misbehaving
upstream of ``faulty.py`` (or at a refused port, a TLS-less server, a blackholed listener).
One key is a single attempt; two keys add failover (a second attempt before the app sees a
byte, whole answers and streams alike), which fails the same way.
Each case drives an official SDK (openai, anthropic, google-genai, mistralai; Ollama over plain
httpx NDJSON), whole and streamed, and asserts:

* the app gets its protocol's error: the SDK raises its own typed status error, or the stream
  ends with its protocol's error event (never a silent end an SDK reads as success, never
  mitmproxy's HTML page, never a bare connection error);
* no lease is left in flight (``/keys``), and a good request right after succeeds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors
from mistralai.client.errors import MistralError

from tests.e2e.faulty import Faulty
from tests.e2e.harness import Proxy, anthropic_client, genai_client, openai_client

pytestmark = pytest.mark.e2e

#: The faults of the matrix and the base URL each needs (``url`` unless said).
FAULTS = [
    "refuse",
    "tls",
    "connect",
    "reset",
    "hang",
    "stall",
    "close",
    "malformed",
    "html",
    "error200",
]
CLIENTS = ["openai-chat", "openai-responses", "anthropic", "gemini", "mistral", "ollama"]
CASES = [
    (fault, client, stream, keys)
    for fault in FAULTS
    for client in CLIENTS
    for stream in (False, True)
    for keys in (1, 2)
]


#: Known: a same-protocol stream is forwarded byte for byte (never parsed per event), so a
#: malformed event reaches the app as it came and these SDKs stop at it with their own JSON
#: decode error — before the error event crosswire appends to the stream (which the Anthropic,
#: Mistral and Ollama clients do reach). Converted streams end with the error event.
PASSED_AS_IS = {
    ("malformed", client, True) for client in ("openai-chat", "openai-responses", "gemini")
}

#: Short timeouts where a timeout is the fault, so that each costs half a second.
TIMEOUTS = "    connect_timeout: 0.5\n    read_timeout: 0.5\n"
TIMED = {"connect", "hang", "stall"}
#: One key, one request at a time, a second waits at most a second.
BUSY = "f-slow-k1-busy"


def base_url(faulty: Faulty, fault: str) -> str:
    return {"refuse": faulty.dead_url, "tls": faulty.tls_url, "connect": faulty.blackhole_url}.get(
        fault, faulty.url
    )


def backend_name(fault: str, keys: int, client: str = "", stream: bool = False) -> str:
    """One backend per case: a key cooled by one case never makes the next one wait."""
    return f"f-{fault}-k{keys}" + (f"-{client}-{'s' if stream else 'w'}" if client else "")


def config(faulty: Faulty) -> str:
    names = [backend_name("ok", 1), backend_name("slow", 1), backend_name("slow", 2), BUSY]
    names += [backend_name("stale", keys) for keys in (1, 2)]
    names += [backend_name(f, k, c, s) for f, c, s, k in CASES]
    backends, routes = [], []
    for name in names:
        fault, keys = name.split("-")[1], int(name.split("-")[2][1:])
        limit = ", max_concurrency: 1" if name == BUSY else ""
        secrets = ", ".join(f'{{name: k{i}, secret: "sk-fault-{i}"{limit}}}' for i in range(keys))
        backends.append(
            f"  {name}:\n    protocol: auto\n    base_url: {base_url(faulty, fault)}\n"
            f"{TIMEOUTS if fault in TIMED else ''}{'    max_wait: 1\n' if name == BUSY else ''}"
            f"    keys: [{secrets}]\n"
        )
        for host in ("", "host: ollama.test, "):  # Ollama apps name their own host
            routes.append(f'  - match: {{{host}model: "{name}"}}\n    backend: {name}\n')
    return "backends:\n" + "".join(backends) + "routes:\n" + "".join(routes)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Faulty]]:
    faulty = Faulty()
    proxy = Proxy(config(faulty), tmp_path_factory.mktemp("faults"), tmp_path_factory.mktemp("fc"))
    yield proxy, faulty
    proxy.stop()
    faulty.close()


# ---- what the app saw ---------------------------------------------------------------------


@dataclass
class Outcome:
    """``ok``: the SDK returned an answer. Otherwise ``error`` names how the app was told."""

    ok: bool
    error: str = ""
    typed: bool = False  # the SDK's own protocol error (status error or error event)
    retry_after: int | None = None

    def __str__(self) -> str:
        return "ok" if self.ok else f"{'typed' if self.typed else 'UNTYPED'} {self.error}"


def caught(exc: BaseException) -> Outcome:
    typed = isinstance(
        exc, openai.APIError | anthropic.APIError | genai_errors.APIError | MistralError
    ) and not isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError)
    response = getattr(exc, "response", None) or getattr(exc, "raw_response", None)
    headers = getattr(response, "headers", None) or {}
    return Outcome(False, f"{type(exc).__name__}: {str(exc)[:160]}", typed, _retry_after(headers))


def _retry_after(headers: Any) -> int | None:
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    return int(value) if value and str(value).isdigit() else None


def drive(proxy: Proxy, client: str, model: str, stream: bool) -> Outcome:
    try:
        return DRIVERS[client](proxy, model, stream)
    except Exception as exc:
        return caught(exc)


MESSAGES = [{"role": "user", "content": "hi"}]


def _openai_chat(proxy: Proxy, model: str, stream: bool) -> Outcome:
    client = openai_client(proxy, timeout=20)
    if not stream:
        out = client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
        return Outcome(bool(out.choices), "" if out.choices else "no choices")
    seen = 0
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, stream=True):  # type: ignore[arg-type]
        seen += 1
        if chunk.choices and chunk.choices[0].finish_reason:
            return Outcome(True)
    return Outcome(False, f"stream ended after {seen} chunks without a finish_reason")


def _openai_responses(proxy: Proxy, model: str, stream: bool) -> Outcome:
    client = openai_client(proxy, timeout=20)
    if not stream:
        out = client.responses.create(model=model, input="hi", store=False)
        return Outcome(out.status == "completed", out.status or "")
    for event in client.responses.create(model=model, input="hi", store=False, stream=True):
        if event.type == "response.completed":
            return Outcome(True)
        if event.type in ("response.failed", "error"):
            return Outcome(False, f"event {event.type}", typed=True)
    return Outcome(False, "stream ended without response.completed")


def _anthropic(proxy: Proxy, model: str, stream: bool) -> Outcome:
    client = anthropic_client(proxy, timeout=20)
    if not stream:
        msg = client.messages.create(model=model, max_tokens=16, messages=MESSAGES)  # type: ignore[arg-type]
        return Outcome(bool(msg.stop_reason), "" if msg.stop_reason else "no stop_reason")
    with client.messages.stream(model=model, max_tokens=16, messages=MESSAGES) as s:  # type: ignore[arg-type]
        msg = s.get_final_message()
    return Outcome(bool(msg.stop_reason), "" if msg.stop_reason else "no stop_reason")


def _gemini(proxy: Proxy, model: str, stream: bool) -> Outcome:
    client = genai_client(proxy)
    if not stream:
        out = client.models.generate_content(model=model, contents="hi")
        done = bool(out.candidates and out.candidates[0].finish_reason)
        return Outcome(done, "" if done else "no finish_reason")
    for chunk in client.models.generate_content_stream(model=model, contents="hi"):
        if chunk.candidates and chunk.candidates[0].finish_reason:
            return Outcome(True)
    return Outcome(False, "stream ended without a finish_reason")


def _mistral(proxy: Proxy, model: str, stream: bool) -> Outcome:
    from mistralai.client import Mistral

    http = httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20)
    client = Mistral(api_key="mistral-app-key", client=http)
    if not stream:
        out = client.chat.complete(model=model, messages=MESSAGES)  # type: ignore[arg-type]
        done = bool(out.choices and out.choices[0].finish_reason)
        return Outcome(done, "" if done else "no finish_reason")
    for event in client.chat.stream(model=model, messages=MESSAGES):  # type: ignore[arg-type]
        if event.data.choices and event.data.choices[0].finish_reason:
            return Outcome(True)
    return Outcome(False, "stream ended without a finish_reason")


def _ollama(proxy: Proxy, model: str, stream: bool) -> Outcome:
    body = {"model": model, "messages": MESSAGES, "stream": stream}
    with (
        httpx.Client(proxy=proxy.url, timeout=20) as http,
        http.stream("POST", "http://ollama.test/api/chat", json=body) as resp,
    ):
        lines = [line for line in resp.iter_lines() if line.strip()]
    if resp.status_code >= 400 or not lines:
        failed = _ollama_error(resp.status_code, lines)
        failed.retry_after = _retry_after(resp.headers)
        return failed
    try:
        last = json.loads(lines[-1])
    except ValueError:
        return Outcome(False, f"last line is not JSON: {lines[-1][:80]}")
    if isinstance(last, dict) and isinstance(last.get("error"), str):
        return Outcome(False, f"error line: {last['error'][:120]}", typed=True)
    return Outcome(bool(last.get("done")), "" if last.get("done") else "no done line")


def _ollama_error(status: int, lines: list[str]) -> Outcome:
    try:
        data = json.loads("".join(lines))
    except ValueError:
        return Outcome(False, f"{status} with a body that is not JSON")
    typed = isinstance(data, dict) and isinstance(data.get("error"), str)
    return Outcome(False, f"{status} {str(data)[:120]}", typed)


DRIVERS: dict[str, Callable[[Proxy, str, bool], Outcome]] = {
    "openai-chat": _openai_chat,
    "openai-responses": _openai_responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "mistral": _mistral,
    "ollama": _ollama,
}


# ---- checks after each case ---------------------------------------------------------------


def keys_state(proxy: Proxy) -> list[dict[str, Any]]:
    with httpx.Client(proxy=proxy.url, timeout=10) as http:
        keys: list[dict[str, Any]] = http.get("http://crosswire.local/keys").json()["keys"]
        return keys


def wait_released(proxy: Proxy, backend: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        busy = [k for k in keys_state(proxy) if k["backend"] == backend and k["in_flight"]]
        if not busy:
            return
        assert time.monotonic() < deadline, f"leases still in flight: {busy}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("fault", "client", "stream", "keys"),
    CASES,
    ids=[f"{f}-{c}-{'stream' if s else 'whole'}-k{k}" for f, c, s, k in CASES],
)
def test_fault(rig: tuple[Proxy, Faulty], fault: str, client: str, stream: bool, keys: int) -> None:
    proxy, _ = rig
    name = backend_name(fault, keys, client, stream)
    outcome = drive(proxy, client, name, stream)
    assert not outcome.ok, "a failed upstream reached the app as a success"
    if (fault, client, stream) in PASSED_AS_IS:
        assert "JSON" in outcome.error or "json" in outcome.error, outcome
    else:
        assert outcome.typed, f"not the app's protocol error: {outcome}"
    wait_released(proxy, name)
    if fault == "connect":  # may be our own busy event loop: the keys are not cooled
        assert all(k["cooling_until"] is None for k in keys_state(proxy) if k["backend"] == name)
    assert drive(proxy, client, backend_name("ok", 1), stream).ok


@pytest.mark.parametrize("keys", [1, 2], ids=["one-key", "failover"])
def test_a_kept_alive_connection_closed_under_a_request_is_not_a_failure(
    rig: tuple[Proxy, Faulty], keys: int
) -> None:
    """The upstream closes a kept-alive connection just as the next request goes out on it (an
    idle timeout racing the request): the request goes again, once, on a new connection — the
    app sees a normal answer, even with a single key, and the key is not cooled. (Whole answers:
    the openai SDK closes its connection after every stream, so a stream never reuses one.)"""
    proxy, faulty = rig
    name = backend_name("stale", keys)
    client = openai_client(proxy, timeout=20)  # one client: its connection to the proxy, and
    for _ in range(2):  # so the proxy's to the upstream, is kept for the second request
        assert client.chat.completions.create(model=name, messages=MESSAGES).choices  # type: ignore[arg-type]
    seen = [r for r in faulty.requests if r.model == name]
    assert [r.kept_alive for r in seen] == [0, 1, 0]  # answered; closed under; sent again
    wait_released(proxy, name)
    assert all(k["cooling_until"] is None for k in keys_state(proxy) if k["backend"] == name)
    assert "closed a kept-alive connection under a request" in proxy.log()


# ---- the app hangs up; more requests than keys allow ------------------------------------------


def _start_slow_stream(proxy: Proxy, model: str) -> tuple[httpx.Client, Any]:
    """An Anthropic stream of the slow play (~10 s), opened and read to its first event."""
    http = httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=20)
    body = {"model": model, "max_tokens": 16, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": "sk-ant-app", "anthropic-version": "2023-06-01"}
    resp = http.send(
        http.build_request(
            "POST", "https://api.anthropic.com/v1/messages", json=body, headers=headers
        ),
        stream=True,
    )
    assert resp.status_code == 200
    chunks = resp.iter_raw()
    next(chunks)
    resp.chunks = chunks  # kept: a dropped iterator closes the response
    return http, resp


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("keys", [1, 2], ids=["one-key", "failover"])
def test_app_hangs_up_mid_stream(rig: tuple[Proxy, Faulty], keys: int) -> None:
    """The upstream request is cancelled and the key released at once, with one key or two."""
    proxy, faulty = rig
    name = backend_name("slow", keys)
    before = len(faulty.requests)
    http, resp = _start_slow_stream(proxy, name)
    [req] = [r for r in faulty.requests[before:] if r.model == name]
    resp.close()
    http.close()
    _wait(lambda: req.ended == "cancelled", 3, "the upstream request went on after the app left")
    wait_released(proxy, name, timeout=2)
    assert drive(proxy, "anthropic", backend_name("ok", 1), True).ok


OVERLOAD = {
    "openai-chat": openai.RateLimitError,
    "openai-responses": openai.RateLimitError,
    "anthropic": anthropic.RateLimitError,
    "gemini": genai_errors.ClientError,
    "mistral": MistralError,
}


@pytest.mark.parametrize("client", [*OVERLOAD, "ollama"])
def test_overload_waits_then_429_with_retry_after(rig: tuple[Proxy, Faulty], client: str) -> None:
    """One key with max_concurrency 1, busy: the next request waits max_wait (1 s), then gets a
    429 in its own protocol with a retry-after (whole seconds, at least 1)."""
    proxy, _ = rig
    wait_released(proxy, BUSY)
    http, resp = _start_slow_stream(proxy, BUSY)
    try:
        started = time.monotonic()
        outcome = drive(proxy, client, BUSY, False)
        waited = time.monotonic() - started
    finally:
        resp.close()
        http.close()
    assert not outcome.ok and outcome.typed, outcome
    assert "429" in outcome.error or "RateLimit" in outcome.error, outcome
    assert 0.9 <= waited < 5, f"waited {waited:.2f} s; max_wait is 1 s"
    assert outcome.retry_after is not None and outcome.retry_after >= 1, outcome
    wait_released(proxy, BUSY)
