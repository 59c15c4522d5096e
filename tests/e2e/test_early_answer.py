"""A routed whole answer reaches the app before the ``response`` hooks run (``layer_early``).

Another addon whose ``response`` hook takes a second and a half is loaded beside crosswire: the
app's whole answer — passed through, converted, or an error in the app's shape — must arrive long
before that, exactly as it did when the hooks ran first; the flow is still saved afterwards with
crosswire's record, and the hooks still see it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Proxy, Reply, Upstream, openai_client, reply_from_fixture

pytestmark = pytest.mark.e2e

SLOW_HOOK = 1.5

SLOW_ADDON = f"""
import asyncio

class Slow:
    async def response(self, flow):
        await asyncio.sleep({SLOW_HOOK})
        flow.comment += " · slow hook ran"

addons = [Slow()]
"""


def config(upstream: Upstream) -> str:
    return f"""
backends:
  same:
    protocol: openai-chat
    base_url: {upstream.url}/v1
    keys: [{{name: k1, secret: "sk-early-1"}}]
  claude:
    protocol: anthropic
    base_url: {upstream.url}
    keys: [{{name: k1, secret: "sk-early-2"}}]
routes:
  - match: {{model: "claude-*"}}
    backend: claude
  - match: {{host: api.openai.com}}
    backend: same
"""


@pytest.fixture
def slow_proxy(start_proxy, upstream: Upstream, tmp_path: Path) -> Proxy:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_ADDON)
    proxy: Proxy = start_proxy(config(upstream), extra=["-s", str(script)])
    return proxy


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    out = fn()
    return out, time.monotonic() - started


def test_whole_answers_do_not_wait_for_the_response_hooks(
    slow_proxy: Proxy, upstream: Upstream
) -> None:
    client = openai_client(slow_proxy, timeout=20)
    messages = [{"role": "user", "content": "hi"}]
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    same, took = timed(lambda: client.chat.completions.create(model="gpt-4o", messages=messages))
    assert same.choices and took < SLOW_HOOK * 0.5, took
    upstream.queue(reply_from_fixture("anthropic/nonstream_text_basic.json"))
    # Another connection: on one HTTP/1 connection the next request waits for the end of the
    # previous message, which follows the hooks (as for any streamed answer).
    client = openai_client(slow_proxy, timeout=20)
    converted, took = timed(
        lambda: client.chat.completions.create(model="claude-sonnet-4-6", messages=messages)
    )
    assert converted.choices[0].message.content and took < SLOW_HOOK * 0.5, took
    time.sleep(SLOW_HOOK + 0.5)  # the hooks end; then the flows are saved
    flows = slow_proxy.flows()
    assert len(flows) == 2
    for flow in flows:  # saved after every hook, with crosswire's record
        assert "slow hook ran" in flow.comment and "k1" in flow.comment, flow.comment


def test_an_error_in_the_apps_shape_does_not_wait_either(
    slow_proxy: Proxy, upstream: Upstream
) -> None:
    client = openai_client(slow_proxy, timeout=20)
    upstream.queue(
        Reply(
            400,
            {"content-type": "application/json"},
            b'{"type":"error","error":'
            b'{"type":"invalid_request_error","message":"bad tool schema"}}',
        )
    )
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        client.chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
        )
    assert time.monotonic() - started < SLOW_HOOK * 0.5
    assert getattr(caught.value, "status_code", None) == 400
    assert "bad tool schema" in str(caught.value)


def test_a_chunked_whole_answer_goes_to_the_app_with_its_length(
    slow_proxy: Proxy, upstream: Upstream
) -> None:
    """The body is all there when it is sent: the app reads it to its last byte, not to an
    end-of-chunks marker that would follow the hooks."""
    body = json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hé"},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()
    upstream.queue(Reply(200, {"content-type": "application/json"}, [body[:40], body[40:]]))
    with httpx.Client(proxy=slow_proxy.url, verify=slow_proxy.ssl_context(), timeout=20) as c:
        started = time.monotonic()
        r = c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer sk-app"},
        )
        took = time.monotonic() - started
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in r.headers
    assert took < SLOW_HOOK * 0.5, took


@pytest.mark.parametrize(
    ("model", "reply", "status"),
    [
        ("gpt-4o", "openai_chat/nonstream_tool_call.json", 200),
        ("claude-sonnet-4-6", "anthropic/nonstream_text_basic.json", 200),
        ("claude-sonnet-4-6", None, 400),
    ],
)
def test_an_http2_app_gets_the_early_answer_whole(
    slow_proxy: Proxy, upstream: Upstream, model: str, reply: str | None, status: int
) -> None:
    """curl negotiates HTTP/2 inside the tunnel: head, body and the end of the stream arrive
    (the end after the hooks), the body parses, the status is the app protocol's."""
    if reply is None:
        upstream.queue(
            Reply(
                400,
                {"content-type": "application/json"},
                b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}',
            )
        )
    else:
        upstream.queue(reply_from_fixture(reply))
    out = subprocess.run(
        [
            "curl", "-sS", "--http2", "-x", slow_proxy.url, "--cacert", str(slow_proxy.ca),
            "-o", "-", "-w", "\n%{http_version} %{http_code}",
            "https://api.openai.com/v1/chat/completions",
            "-H", "content-type: application/json", "-H", "authorization: Bearer sk-app",
            "-d", json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        ],
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    body, _, tail = out.stdout.rpartition(b"\n")
    assert tail == f"2 {status}".encode(), out.stderr
    parsed = json.loads(body)
    assert ("choices" in parsed) if status == 200 else ("error" in parsed), parsed
