"""Where a routed request is routed: inside mitmproxy's HTTP layer while no other addon would act
on it (the default), through the ``request`` hook as soon as one would — a user's script sees
and changes every routed request, and a changed option takes effect without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.harness import Proxy, Upstream, openai_client, reply_from_fixture

IN_LAYER = "routed requests are routed in mitmproxy's HTTP layer"
BY_HOOK = "routed requests take mitmproxy's request hook"

SCRIPT = """
class Stamp:
    def request(self, flow):
        flow.request.headers["x-seen-by-script"] = flow.request.pretty_host

addons = [Stamp()]
"""


def config(upstream: Upstream) -> str:
    return f"""
backends:
  b:
    protocol: openai-chat
    base_url: {upstream.url}/v1
    keys: [{{name: one, secret: sk-pool-secret-one-1111}}]
routes:
  - match: {{host: api.openai.com}}
    backend: b
"""


def ask(proxy: Proxy) -> str:
    with openai_client(proxy) as client:
        got = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    return str(got.choices[0].finish_reason)


def wait_for(proxy: Proxy, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in proxy.log():
        assert time.monotonic() < deadline, proxy.log()
        time.sleep(0.05)


def test_by_default_a_routed_request_is_routed_in_the_layer(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(config(upstream))
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    assert ask(proxy)
    got = upstream.requests[-1]
    assert got.headers["authorization"] == "Bearer sk-pool-secret-one-1111"
    assert IN_LAYER in proxy.log() and BY_HOOK not in proxy.log()
    [flow] = proxy.flows()  # saved flows (`save_stream_file`) still have it
    assert flow.response.status_code == 200
    assert flow.request.headers["authorization"] == "<redacted: one>"


def test_a_users_script_sees_every_routed_request(
    start_proxy, upstream: Upstream, tmp_path: Path
) -> None:
    script = tmp_path / "stamp.py"
    script.write_text(SCRIPT)
    proxy = start_proxy(config(upstream), extra=["-s", str(script)])
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    assert ask(proxy)
    # The script's hook ran (after crosswire's: it saw the upstream), before the request left.
    assert upstream.requests[-1].headers["x-seen-by-script"] == "127.0.0.1"
    assert f"{BY_HOOK} (Stamp acts on them)" in proxy.log()
    assert IN_LAYER not in proxy.log()


def test_an_option_set_while_running_sends_requests_through_the_hook(
    start_proxy, upstream: Upstream, tmp_path: Path
) -> None:
    # A script that turns `anticache` (an option that acts on requests) on once running.
    script = tmp_path / "later.py"
    script.write_text(
        "from mitmproxy import ctx\n"
        "class Later:\n"
        "    def running(self):\n"
        "        ctx.options.update(anticache=True)\n"
        "addons = [Later()]\n"
    )
    proxy = start_proxy(config(upstream), extra=["-s", str(script)])
    wait_for(proxy, f"{BY_HOOK} (AntiCache acts on them)")
    log = proxy.log()
    assert log.index(IN_LAYER) < log.index(BY_HOOK)
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    assert ask(proxy)


def test_an_option_that_changes_answers_heads_still_applies(
    start_proxy, upstream: Upstream
) -> None:
    proxy = start_proxy(config(upstream), extra=["--set", "modify_headers=/~s/x-added/yes"])
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    with openai_client(proxy) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-added"] == "yes"
    assert "answers take mitmproxy's responseheaders hook (ModifyHeaders acts on them)" in (
        proxy.log()
    )
    assert IN_LAYER in proxy.log()  # requests still skip their round


def test_the_layer_path_can_be_turned_off(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(config(upstream), extra=["--set", "crosswire_in_layer=false"])
    upstream.queue(reply_from_fixture("openai_chat/nonstream_tool_call.json"))
    assert ask(proxy)
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-pool-secret-one-1111"
    log = proxy.log()
    assert f"{BY_HOOK} (crosswire_in_layer is off)" in log
    assert "answers take mitmproxy's responseheaders hook (crosswire_in_layer is off)" in log
    assert IN_LAYER not in log
