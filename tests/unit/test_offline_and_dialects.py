"""`crosswire convert` (the proxy's own conversion path, offline) and backend dialects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crosswire import ir, offline
from crosswire.convert import infer_dialect
from crosswire.protocols import codec
from crosswire.protocols.base import Target

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def test_convert_a_request_prints_the_upstream_call_and_the_changes() -> None:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "seed": 3,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        }
    ).encode()
    result = offline.convert(body, source="openai-chat", target="anthropic", model="claude-x")
    head, _, payload = result.output.partition(b"\n")
    assert head == b"POST /v1/messages"
    assert json.loads(payload)["system"] == "s"
    assert {n.field for n in result.notes} >= {"seed", "max_tokens"}


def test_convert_a_recorded_stream_and_a_whole_answer() -> None:
    rec = json.loads((FIX / "anthropic" / "stream_thinking_then_tool_use.json").read_text())
    out = offline.convert(
        rec["response"]["body"].encode(), source="anthropic", target="openai-chat", kind="stream"
    )
    assert out.output.endswith(b"data: [DONE]\n\n") and b'"tool_calls"' in out.output
    rec = json.loads((FIX / "gemini" / "nonstream_text_basic.json").read_text())
    whole = json.loads(
        offline.convert(
            rec["response"]["body"].encode(), source="gemini", target="anthropic"
        ).output
    )
    assert whole["type"] == "message" and whole["content"][0]["type"] == "text"


def test_convert_cli_reads_stdin() -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "crosswire.cli",
            "convert",
            "--from",
            "openai-chat",
            "--to",
            "gemini",
            "-",
        ],
        input=body.encode(),
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert b":generateContent" in out.stdout and b'"contents"' in out.stdout


def test_azure_dialect_uses_deployment_urls_api_version_and_api_key() -> None:
    req = ir.Request(
        model="gpt-4o", messages=(ir.Message(role="user", parts=(ir.Text(text="hi"),)),)
    )
    up = codec("openai-chat").encode_request(
        req,
        Target(
            protocol="openai-chat", model="my-deploy", dialect="azure", api_version="2024-10-21"
        ),
        ir.Report(),
    )
    assert up.path == "/openai/deployments/my-deploy/chat/completions" and up.query == {
        "api-version": "2024-10-21"
    }
    assert "model" not in json.loads(up.body)
    assert codec("openai-chat").wire.credential("k", "azure") == ("api-key", "k")
    assert infer_dialect("openai-chat", "https://x.openai.azure.com", None) == "azure"
    assert infer_dialect("openai-chat", "https://api.mistral.ai/v1", None) == "mistral"
    assert infer_dialect("openai-chat", "https://api.deepseek.com", None) == "deepseek"
