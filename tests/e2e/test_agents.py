"""Real agents through a real crosswire: Claude Code and Gemini CLI on an OpenAI-compatible model.

The npm packages are installed once into a cache directory (the npm registry is reachable in
CI); without node/npm or the registry the tests skip and say why. The upstream answers with
OpenAI chat-completion SSE streams, as vLLM or llama.cpp would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import Recorded, Reply, Upstream

pytestmark = [pytest.mark.e2e]

CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.330"
GEMINI_CLI = "@google/gemini-cli"
CACHE = Path(os.environ.get("CROSSWIRE_NPM_CACHE", Path.home() / ".cache" / "crosswire-e2e-npm"))


def npm_tool(package: str, binary: str) -> Path:
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("node/npm are not installed")
    prefix = CACHE / package.strip("@").replace("/", "_").replace("@", "-")
    exe = prefix / "node_modules" / ".bin" / binary
    if not exe.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package],
            capture_output=True,
            timeout=600,
        )
        if out.returncode != 0 or not exe.exists():
            pytest.skip(
                f"npm install {package} failed: {out.stderr.decode(errors='replace')[-300:]}"
            )
    return exe


def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    return (
        "data: "
        + json.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "qwen",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )
        + "\n\n"
    ).encode()


USAGE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"qwen","choices":[],'
    b'"usage":{"prompt_tokens":120,"completion_tokens":9,"total_tokens":129}}\n\n'
)


def text_stream(text: str) -> Reply:
    return Reply(
        200,
        {"content-type": "text/event-stream"},
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": text}),
            chunk({}, "stop"),
            USAGE,
            b"data: [DONE]\n\n",
        ],
    )


def tool_stream(name: str, arguments: dict[str, object]) -> Reply:
    args = json.dumps(arguments)
    return Reply(
        200,
        {"content-type": "text/event-stream"},
        [
            chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_cw1",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ],
                }
            ),
            chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": args[: len(args) // 2]}}]}
            ),
            chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": args[len(args) // 2 :]}}]}
            ),
            chunk({}, "tool_calls"),
            USAGE,
            b"data: [DONE]\n\n",
        ],
    )


def agent_env(proxy, home: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        **os.environ,
        **proxy.env(),
        "HOME": str(home),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


def test_claude_code_on_an_openai_compatible_model_prompt_and_tool_turn(
    start_proxy, upstream: Upstream, tmp_path: Path
) -> None:
    claude = npm_tool(CLAUDE_CODE, "claude")
    seen: list[dict[str, object]] = []

    def handler(rec: Recorded) -> Reply:
        body = rec.json()
        seen.append(body)
        if not body.get("stream"):
            return Reply(
                200,
                {"content-type": "application/json"},
                json.dumps(
                    {
                        "id": "c0",
                        "object": "chat.completion",
                        "created": 1,
                        "model": "qwen",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "ok"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                    }
                ).encode(),
            )
        messages = body["messages"]
        if any(m.get("role") == "tool" for m in messages):
            result = next(m for m in messages if m.get("role") == "tool")
            return text_stream(f"The command printed: {str(result['content']).strip()[:40]}")
        names = [t["function"]["name"] for t in body.get("tools", [])]
        if "Bash" in names and "MARKER-RUN" in json.dumps(messages):
            return tool_stream(
                "Bash", {"command": "echo crosswire-tool-ok", "description": "print a marker"}
            )
        return text_stream("Hello from the local model.")

    upstream.handler = handler
    proxy = start_proxy(f"""
backends:
  local:
    protocol: openai-chat
    base_url: {upstream.url}/v1
    dialect: vllm
    max_output_tokens: 8192
routes:
  - match: {{host: api.anthropic.com}}
    backend: local
    model: qwen
""")
    home = tmp_path / "home"
    home.mkdir()
    env = {**agent_env(proxy, home), "ANTHROPIC_API_KEY": "sk-ant-dummy-key"}
    out = subprocess.run(
        [str(claude), "-p", "Say hello", "--output-format", "json"],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    assert result["is_error"] is False, result
    assert result["result"] == "Hello from the local model."
    assert all(b.get("max_tokens", 0) <= 8192 and b.get("model") == "qwen" for b in seen)

    out = subprocess.run(
        [
            str(claude),
            "-p",
            "MARKER-RUN: run the marker command with Bash",
            "--output-format",
            "json",
            "--allowedTools",
            "Bash",
        ],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    assert result["is_error"] is False, result
    assert "crosswire-tool-ok" in result["result"], result["result"]
    tool_turn = seen[-1]["messages"]
    assert any(
        m.get("role") == "tool" and "crosswire-tool-ok" in str(m.get("content")) for m in tool_turn
    )


def test_gemini_cli_on_an_openai_compatible_model(
    start_proxy, upstream: Upstream, tmp_path: Path
) -> None:
    gemini = npm_tool(GEMINI_CLI, "gemini")
    upstream.handler = lambda rec: (
        text_stream("Hello from the local model.")
        if rec.json().get("stream")
        else Reply(
            200,
            {"content-type": "application/json"},
            json.dumps(
                {
                    "id": "c0",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "qwen",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "{}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode(),
        )
    )
    proxy = start_proxy(f"""
backends:
  local:
    protocol: openai-chat
    base_url: {upstream.url}/v1
routes:
  - match: {{host: generativelanguage.googleapis.com}}
    backend: local
    model: qwen
""")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **agent_env(proxy, home),
        "GEMINI_API_KEY": "gemini-dummy-key",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    out = subprocess.run(
        [str(gemini), "-p", "Say hello"], env=env, cwd=home, capture_output=True, timeout=180
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
    assert "Hello from the local model." in out.stdout.decode()
