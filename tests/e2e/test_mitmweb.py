"""mitmweb shows a converted exchange side by side — checked as a person would, in Chromium.

Starts ``crosswire web`` (mitmweb + the addon, the same command a person types) headless, drives
an OpenAI-SDK streamed request that crosswire converts for an Anthropic-format loopback upstream
answering with a recorded stream, then:

* reads mitmweb's JSON API like the UI does: the flow list comment, the "crosswire" view of both
  tabs, the flow dump — and scans all of it for the pool key and the app's key;
* opens the flow in headless Chromium (Debian's ``chromium``, driven over the DevTools protocol
  with the ``websockets`` client already in the environment — no browser or driver download),
  checks the rendered page shows both columns of both tabs, and takes a screenshot.

``CROSSWIRE_SCREENSHOT=1`` copies the screenshot to ``docs/mitmweb.png``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ROOT, VENV_BIN, Upstream, free_port, reply_from_fixture

pytestmark = pytest.mark.e2e

SECRET = "sk-ant-api03-VIEWSECRET-123"
APP_KEY = "sk-app-VIEWAPPKEY-456"
WEB_PASSWORD = "letmein-view"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1600,1000",
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


# ---- crosswire web ----------------------------------------------------------------------


class CrosswireWeb:
    """``crosswire web -c CONFIG`` on free loopback ports, its UI locked by a password."""

    def __init__(
        self, config_text: str, workdir: Path, confdir: Path, extra: tuple[str, ...] = ()
    ) -> None:
        cfg = workdir / "crosswire.yaml"
        cfg.write_text(config_text)
        self.web_port = free_port()
        self.log_path = workdir / "crosswire-web.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "crosswire"),
                "web",
                "-c",
                str(cfg),
                "--listen",
                "127.0.0.1:0",
                "--set",
                "web_open_browser=false",
                "--set",
                f"web_port={self.web_port}",
                "--set",
                f"web_password={WEB_PASSWORD}",
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MITMPROXY_CONFDIR": str(confdir)},
            cwd=str(workdir),
        )
        self.port = self._wait_for(r"proxy listening at (?:http://)?127\.0\.0\.1:(\d+)")
        self._wait_for(r"Web server listening at")
        self.url = f"http://127.0.0.1:{self.port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.ca = confdir / "mitmproxy-ca-cert.pem"

    def _wait_for(self, pattern: str, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return int(m.group(1)) if m.groups() else 0
            if self.proc.poll() is not None:
                raise RuntimeError(f"crosswire web exited {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"crosswire web did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.web_url, headers={"Authorization": f"Bearer {WEB_PASSWORD}"}, timeout=10
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def crosswire_web(tmp_path: Path, confdir: Path) -> Iterator[Callable[[str], CrosswireWeb]]:
    started: list[CrosswireWeb] = []

    def start(config_text: str) -> CrosswireWeb:
        web = CrosswireWeb(config_text, tmp_path, confdir)
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()


# ---- headless Chromium over the DevTools protocol ---------------------------------------


class Browser:
    """One headless Chromium page, driven with CDP commands (navigate, evaluate, screenshot)."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [
                _chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        pages: list[dict[str, Any]] = []
        while not pages and time.monotonic() < deadline:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            pages = [t for t in targets if t.get("type") == "page"]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.send("Page.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for_text(self, *needles: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.js("document.body ? document.body.innerText : ''") or ""
            if all(n in text for n in needles):
                return str(text)
            time.sleep(0.1)
        raise AssertionError(f"the page never showed {needles}; it showed:\n{text[-3000:]}")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def drag(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.send(
            "Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0, button="left", clickCount=1
        )
        for step in range(1, 11):
            x = x0 + (x1 - x0) * step / 10
            y = y0 + (y1 - y0) * step / 10
            self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left")
        self.send(
            "Input.dispatchMouseEvent",
            type="mouseReleased",
            x=x1,
            y=y1,
            button="left",
            clickCount=1,
        )

    def center_of(self, selector_js: str) -> tuple[float, float]:
        box = self.js(
            f"(() => {{ const e = {selector_js}; if (!e) return null;"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        assert box, f"no element for {selector_js}"
        return float(box[0]), float(box[1])

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    _chromium()
    page = Browser(tmp_path / "chromium-profile")
    yield page
    page.close()


# ---- the test ---------------------------------------------------------------------------


def _openai_client(web: CrosswireWeb) -> Any:
    import openai

    verify = ssl.create_default_context(cafile=str(web.ca))
    http_client = openai.DefaultHttpxClient(proxy=web.url, verify=verify)
    return openai.OpenAI(api_key=APP_KEY, http_client=http_client, max_retries=0)


def _config(upstream: Upstream) -> str:
    return f"""
backends:
  claude:
    protocol: anthropic
    base_url: {upstream.url}
    keys: [{{name: team-b, secret: "{SECRET}"}}]
routes:
  - match: {{host: api.openai.com}}
    backend: claude
    model: claude-haiku-4-5
"""


def _wait_for_finished_flow(api: httpx.Client) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    flows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        flows = api.get("/flows").json()
        if flows and flows[0].get("response") and flows[0].get("comment"):
            break
        time.sleep(0.1)
    assert len(flows) == 1, flows
    return flows[0]


def test_mitmweb_shows_both_sides_of_a_converted_stream_without_secrets(
    crosswire_web: Callable[[str], CrosswireWeb],
    upstream: Upstream,
    browser: Browser,
    tmp_path: Path,
) -> None:
    web = crosswire_web(_config(upstream))
    upstream.queue(reply_from_fixture("anthropic/stream_text_basic.json"))
    chunks = list(
        _openai_client(web).chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "What is 2+2?"},
            ],
            stream=True,
            seed=3,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"

    # mitmweb's JSON API, as the UI reads it.
    api = web.api()
    flow = _wait_for_finished_flow(api)
    assert str(flow["comment"]).startswith(
        "openai-chat → anthropic · route 1 · backend claude · key team-b · gpt-4o → claude-haiku-4-5"
    ), flow["comment"]
    assert "seed" in str(flow["comment"])  # the dropped field is named in the list
    base = f"/flows/{flow['id']}"
    request_view = api.get(f"{base}/request/content/crosswire.json").json()
    response_view = api.get(f"{base}/response/content/crosswire.json").json()
    auto_view = api.get(f"{base}/request/content/auto.json").json()
    assert request_view["view_name"] == auto_view["view_name"] == "crosswire"
    req_text, resp_text = request_view["text"], response_view["text"]
    assert "APP → crosswire (openai-chat)" in req_text
    assert "crosswire → UPSTREAM (anthropic)" in req_text
    assert "POST https://api.openai.com/v1/chat/completions" in req_text
    assert '"seed": 3' in req_text and '"max_tokens"' in req_text
    assert re.search(r"dropped\s+seed\s", req_text), req_text
    assert (
        "UPSTREAM answered (anthropic)" in resp_text and "APP received (openai-chat)" in resp_text
    )
    assert "#1 message_start" in resp_text and "#7 message_stop" in resp_text
    assert "chat.completion.chunk" in resp_text and "[DONE]" in resp_text
    upstream_events = [int(n) for n in re.findall(r"^#(\d+) ", resp_text, re.MULTILINE)]
    assert upstream_events[:7] == [1, 2, 3, 4, 5, 6, 7]  # in order

    everything = "\n".join(
        [
            api.get("/flows").text,
            json.dumps(request_view),
            json.dumps(response_view),
            *(
                api.get(f"{base}/{part}/content/{name}.json").text
                for part in ("request", "response")
                for name in ("auto", "raw", "json")
            ),
            api.get(f"{base}/request/content.data").text,
            api.get(f"{base}/response/content.data").text,
            # the flow file, metadata (the record and stored bodies) included
            api.get("/flows/dump").content.decode("utf-8", "replace"),
            api.get("/events").text,
            api.get("/options").text,
            api.get("/state").text,
            web.log(),
        ]
    )
    for secret in (SECRET, APP_KEY):
        assert secret not in everything

    # The page, in Chromium: the flow's Request tab, then its Response tab.
    browser.send(
        "Page.navigate", url=f"{web.web_url}/?token={WEB_PASSWORD}#/flows/{flow['id']}/request"
    )
    page = browser.wait_for_text(
        "APP → crosswire (openai-chat)", "crosswire → UPSTREAM (anthropic)"
    )
    assert '"seed": 3' in page and '"max_tokens": 4096' in page
    assert '"system": "Answer briefly."' in page  # the system message moved to the top level
    assert re.search(r"dropped\s+seed\s", page), page[-2000:]
    html = browser.js("document.documentElement.outerHTML")
    for secret in (SECRET, APP_KEY):
        assert secret not in html

    # Give the detail pane more room (drag the splitter, as a person would), bring the view
    # into sight and keep the picture.
    splitter = browser.center_of("document.querySelector('.splitter')")
    browser.drag(*splitter, 640, splitter[1])
    browser.js("document.querySelector('.contentview').scrollIntoView()")
    time.sleep(0.3)
    shot = tmp_path / "mitmweb.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 20_000
    if os.environ.get("CROSSWIRE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "mitmweb.png")

    response_tab = browser.center_of(
        "[...document.querySelectorAll('a')].find(a => a.textContent.trim() === 'Response')"
    )
    browser.click(*response_tab)
    page = browser.wait_for_text("UPSTREAM answered (anthropic)", "APP received (openai-chat)")
    assert "#1 message_start" in page and "chat.completion.chunk" in page
    html = browser.js("document.documentElement.outerHTML")
    for secret in (SECRET, APP_KEY):
        assert secret not in html

    # `crosswire web` adds the comment column to the flow list.
    flow_list = browser.js("document.querySelector('.flow-table').innerText")
    assert "Comment" in flow_list and "openai-chat → anthropic" in flow_list, flow_list

    # The documented filters, typed into the URL as a person would bookmark them.
    for expression, shown in (("~comment%20anthropic", True), ("~marked", False)):
        browser.send("Page.navigate", url="about:blank")
        browser.send(
            "Page.navigate", url=f"{web.web_url}/?token={WEB_PASSWORD}#/flows?s={expression}"
        )
        browser.wait_for_text("of 1 flows")  # the status bar: the flow list has loaded
        time.sleep(0.5)
        deadline = time.monotonic() + 5
        while True:
            rows = browser.js("document.querySelector('.flow-table').innerText")
            if ("openai-chat → anthropic" in rows) is shown or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ("openai-chat → anthropic" in rows) is shown, (expression, rows)
