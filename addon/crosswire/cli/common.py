"""What every subcommand shares: which config, which mitmproxy confdir, which address."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from crosswire import config as configmod

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MITM_SCRIPT = PACKAGE_DIR / "mitm.py"
REPO_CONFIG = PACKAGE_DIR.parents[1] / "config" / "crosswire.yaml"


def default_config_path() -> Path:
    """$CROSSWIRE_CONFIG, else the user's config dir, else the repository's default config."""
    env = os.environ.get("CROSSWIRE_CONFIG")
    if env:
        return Path(env)
    user = (
        Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        / "crosswire"
        / "crosswire.yaml"
    )
    if user.exists():
        return user
    return REPO_CONFIG


def confdir() -> Path:
    return Path(os.environ.get("MITMPROXY_CONFDIR", Path.home() / ".mitmproxy"))


def load(path: Path | None, *, secrets: bool = True) -> configmod.Config:
    """The config, or exit 2 with its located error. ``secrets=False`` for the commands that
    need only its shape (address, routes): an unset secret variable is no error for them."""
    path = path or default_config_path()
    try:
        return configmod.load(path, secrets=secrets)
    except configmod.ConfigError as exc:
        print(f"crosswire: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def listen(cfg: configmod.Config, override: str | None) -> tuple[str, int]:
    host, _, port = (override or cfg.file.listen).rpartition(":")
    return host or "127.0.0.1", int(port)


def find_binary(name: str) -> str:
    """A console script of this environment (mitmdump, mitmweb), else one on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        print(f"crosswire: {name} not found (is mitmproxy installed?)", file=sys.stderr)
        raise SystemExit(2)
    return found
