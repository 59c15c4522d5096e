"""mitmweb shows a converted exchange side by side — checked as a person would, in Chromium.

Starts `mitmweb` headless with the addon, drives an OpenAI-SDK request that crosswire converts
for an Anthropic backend, then loads the flow's page in headless Chromium (Debian's package, no
browser download) and checks that the "crosswire" view renders both sides. The screenshot is
kept in docs/mitmweb.png when CROSSWIRE_SCREENSHOT is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import ROOT, Upstream, free_port, openai_client, reply_from_fixture

pytestmark = pytest.mark.e2e

SECRET = "sk-ant-api03-VIEWSECRET-123"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")


def _run_chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp / 'profile'}",
            "--virtual-time-budget=10000",
            "--window-size=1600,1000",
            *extra,
            url,
        ],
        capture_output=True,
        timeout=90,
    )


def test_mitmweb_renders_the_crosswire_view_with_both_sides(
    start_proxy, upstream: Upstream, tmp_path: Path
) -> None:
    web_port = free_port()
    cfg = f"""
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
    proxy = start_proxy(
        cfg,
        web=True,
        extra=[
            "--set",
            "web_open_browser=false",
            "--set",
            f"web_port={web_port}",
            "--set",
            "web_password=letmein",
        ],
    )
    upstream.queue(reply_from_fixture("anthropic/stream_text_basic.json"))
    chunks = list(
        openai_client(proxy).chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "What is 2+2?"}],
            stream=True,
            seed=3,
        )
    )
    assert chunks
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{web_port}", headers={"Authorization": "Bearer letmein"}
    )
    deadline = time.monotonic() + 10
    flows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        flows = api.get("/flows").json()
        if flows and flows[0].get("response"):
            break
        time.sleep(0.2)
    [flow] = flows
    assert str(flow["comment"]).startswith(
        "openai-chat → anthropic · route 1 · backend claude · key team-b"
    )
    request_view = api.get(f"/flows/{flow['id']}/request/content/crosswire.json").json()
    response_view = api.get(f"/flows/{flow['id']}/response/content/crosswire.json").json()
    text = json.dumps(request_view, ensure_ascii=False) + json.dumps(
        response_view, ensure_ascii=False
    )
    assert "APP → crosswire (openai-chat)" in text and "crosswire → UPSTREAM (anthropic)" in text
    assert "UPSTREAM answered (anthropic)" in text and "APP received (openai-chat)" in text
    assert "seed" in text  # the dropped field is listed with its reason
    blob = (
        json.dumps(api.get("/flows").json())
        + text
        + api.get(f"/flows/{flow['id']}/request/content/auto.json").text
    )
    assert SECRET not in blob

    page = f"http://127.0.0.1:{web_port}/?token=letmein#/flows/{flow['id']}/request"
    dom = _run_chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout.decode("utf-8", "replace")
    assert "crosswire" in html
    assert "APP → crosswire" in html and "crosswire → UPSTREAM" in html, html[-3000:]
    assert SECRET not in html
    shot = tmp_path / "mitmweb.png"
    _run_chromium(page, tmp_path, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("CROSSWIRE_SCREENSHOT"):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "mitmweb.png")
