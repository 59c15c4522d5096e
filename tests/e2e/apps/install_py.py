"""Install the real Python apps of the e2e suite, each into its own cached venv.

The apps (aider, Mistral Vibe, llm, openai-agents, pydantic-ai) pin dependencies that conflict
with each other and with crosswire's own lock, so none of them goes into the project's .venv:
each gets ``$CROSSWIRE_APPS_DIR/py/<app>`` (default ``~/.cache/crosswire-apps``), made with
``uv venv`` on the interpreter the project's .venv uses and filled with ``uv pip install`` at
pinned versions. A venv is reused while its recorded pins match; an install that fails is
remembered for the run (a test then skips and says why, it never passes silently).

    python -m tests.e2e.apps.install_py [APP ...]   # install (all by default), print status
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class App:
    name: str
    requirements: tuple[str, ...]
    # the console script (or module) that proves the install worked
    entry: str
    # a Python the app's pins need instead of the project's (aider's numpy has no 3.13 wheel)
    python: str | None = None
    # uv overrides for pins the registry no longer serves exactly
    overrides: tuple[str, ...] = ()


APPS: dict[str, App] = {
    app.name: app
    for app in (
        App("aider", ("aider-chat==0.86.2",), "aider", python="3.12"),
        # mistral-vibe pins certifi==2026.10.19, which the registry only serves as .post1
        App("vibe", ("mistral-vibe==3.0.3",), "vibe", overrides=("certifi==2026.10.19.post1",)),
        App("llm", ("llm==0.36", "llm-anthropic==0.30", "llm-gemini==0.35"), "llm"),
        App("openai-agents", ("openai-agents==0.24.0",), "python"),
        App("pydantic-ai", ("pydantic-ai-slim[openai]==2.68.0",), "python"),
    )
}

APPS_DIR = Path(os.environ.get("CROSSWIRE_APPS_DIR", Path.home() / ".cache" / "crosswire-apps"))
#: Bumped when the way a venv is built changes, so cached venvs are rebuilt.
LAYOUT = "2 (bytecode compiled: the apps start in seconds, PYTHONDONTWRITEBYTECODE or not)"
INSTALL_TIMEOUT = 900
FAILURE_TTL = 1800


class Unavailable(Exception):
    """The app could not be installed here; the message says why."""


def venv_dir(app: App) -> Path:
    return APPS_DIR / "py" / app.name


def bin_path(app: App, name: str | None = None) -> Path:
    return venv_dir(app) / "bin" / (name or app.entry)


ROOT = Path(__file__).resolve().parents[3]


def _base_python() -> str:
    """The interpreter behind the project's .venv (not the venv's own shim), whichever Python
    runs this module (CI calls it with the .venv's; a developer may use any python3)."""
    if sys.prefix == sys.base_prefix:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists():
            out = subprocess.run(
                [str(venv_python), "-c", "import sys; print(sys._base_executable)"],
                capture_output=True,
                text=True,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    return getattr(sys, "_base_executable", None) or sys.executable


def _interpreter(app: App) -> str:
    """The app's preferred minor version when this machine has it (PATH or pyenv), else the
    project's interpreter (uv then builds what has no wheel: slower, still pinned)."""
    if app.python:
        pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates = [shutil.which(f"python{app.python}")] + [
            str(p)
            for p in sorted(pyenv_root.glob(f"versions/{app.python}.*/bin/python{app.python}"))
        ]
        for found in candidates:
            if (
                found
                and subprocess.run([str(found), "-c", ""], capture_output=True).returncode == 0
            ):
                return str(found)
    return _base_python()


def _uv() -> list[str] | None:
    found = shutil.which("uv")
    if found:
        return [found]
    beside = Path(_base_python()).parent / "uv"
    if beside.exists():
        return [str(beside)]
    probe = subprocess.run([_base_python(), "-m", "uv", "--version"], capture_output=True)
    return [_base_python(), "-m", "uv"] if probe.returncode == 0 else None


class NotYet(Unavailable):
    """The install did not finish within the caller's time budget (not recorded as a failure:
    uv's cache keeps what was downloaded, and the next call goes on)."""


@contextlib.contextmanager
def _locked(path: Path, deadline: float) -> Iterator[None]:
    """Serialise installs across pytest-xdist workers and CI's pre-install step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NotYet("another process is still installing it") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], env: dict[str, str], deadline: float) -> None:
    try:
        out = subprocess.run(
            cmd, capture_output=True, env=env, timeout=max(1.0, deadline - time.monotonic())
        )
    except subprocess.TimeoutExpired as exc:
        raise NotYet(
            "not installed yet and the install outlasted this test's budget; run "
            "`python -m tests.e2e.apps.install_py` first (.ci/run does)"
        ) from exc
    if out.returncode != 0:
        tail = out.stderr.decode(errors="replace").strip()[-600:]
        raise Unavailable(f"`{' '.join(cmd[-2:])}` failed: {tail}")


def _recent(path: Path) -> bool:
    """A failure is trusted for one run, not forever (the registry may have been down)."""
    return path.exists() and time.time() - path.stat().st_mtime < FAILURE_TTL


def ensure(name: str, budget: float = INSTALL_TIMEOUT) -> App:
    """Install ``name`` if needed (within ``budget`` seconds) and return it; raises
    Unavailable with the reason."""
    app = APPS[name]
    deadline = time.monotonic() + budget
    root = venv_dir(app)
    stamp = root / ".crosswire-pins"
    failed = root.with_name(f"{app.name}.failed")
    python = _interpreter(app)
    pins = "\n".join((LAYOUT, python, *app.requirements, *app.overrides))
    with _locked(root.with_name(f"{app.name}.lock"), deadline):
        if stamp.exists() and stamp.read_text() == pins and bin_path(app).exists():
            return app
        if _recent(failed) and failed.read_text().startswith(pins + "\n"):
            raise Unavailable(failed.read_text()[len(pins) + 1 :])
        uv = _uv()
        if uv is None:
            raise Unavailable("uv is not installed (the project's ./crosswire bootstrap adds it)")
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(root)}
        env.pop("UV_PROJECT_ENVIRONMENT", None)
        try:
            shutil.rmtree(root, ignore_errors=True)
            _run([*uv, "venv", "-q", "--python", python, str(root)], env, deadline)
            extra: list[str] = []
            if app.overrides:
                (root / "overrides.txt").write_text("\n".join(app.overrides) + "\n")
                extra = ["--override", str(root / "overrides.txt")]
            target = ["--python", str(root / "bin" / "python")]
            # compiled now: the tests run the apps many times, and a machine with
            # PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every start
            install = [*uv, "pip", "install", "-q", "--compile-bytecode", *target, *extra]
            _run([*install, *app.requirements], env, deadline)
            if not bin_path(app).exists():
                raise Unavailable(f"{app.entry} missing after installing {app.requirements}")
        except NotYet:
            raise
        except Unavailable as exc:
            failed.write_text(f"{pins}\n{exc}")
            raise
        failed.unlink(missing_ok=True)
        stamp.write_text(pins)
    return app


def main(argv: list[str]) -> int:
    names = argv or list(APPS)
    for name in names:
        try:
            ensure(name)
            print(f"crosswire apps: {name} ready in {venv_dir(APPS[name])}")
        except Unavailable as exc:  # the tests skip with this reason; CI goes on
            print(f"crosswire apps: {name} unavailable: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
