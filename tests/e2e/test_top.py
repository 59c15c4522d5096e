"""``crosswire top`` under a real pseudo-terminal, against a real crosswire.

The test is the terminal: it opens a pty (80x… is too narrow for the table: 200 columns),
starts ``crosswire top`` as the session leader on it, reads what it draws, and quits it the
way a user does, with Ctrl-C typed into the terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from tests.e2e.harness import VENV_BIN, Upstream, openai_client
from tests.e2e.test_pool import ENV, LIMITED, by_key, keys_of, pool_cfg

pytestmark = pytest.mark.e2e

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\r")
HOME = b"\x1b[H"


class Terminal:
    """A pty running one command; ``screen()`` is the last full frame drawn, as text."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 200, rows: int = 40):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.fd = master
        self.output = b""
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)},
            start_new_session=True,
            # The pty becomes the controlling terminal: Ctrl-C typed into it is a SIGINT.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)

    def read(self, timeout: float = 0.2) -> None:
        while select.select([self.fd], [], [], timeout)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            self.output += chunk
            timeout = 0.05

    def screen(self) -> str:
        last = self.output.rsplit(HOME, 1)[-1]
        return ANSI.sub(b"", last).decode(errors="replace")

    def wait_for(self, check, timeout: float = 30.0) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if check(self.screen()):
                return self.screen()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"screen never matched; last frame:\n{self.screen()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


def row(screen: str, name: str) -> list[str]:
    for line in screen.splitlines():
        cells = line.split()
        if name in cells[:2]:
            return cells
    raise AssertionError(f"no row for {name}:\n{screen}")


def test_top_shows_the_pool_live_and_quits_on_ctrl_c(start_proxy, upstream: Upstream) -> None:
    proxy = start_proxy(pool_cfg(upstream, key_extra=", rpm: 60, max_concurrency: 4"), env=ENV)
    upstream.handler = by_key({"aaaa-secret": LIMITED})
    client = openai_client(proxy)
    for i in range(6):  # until the pool has tried ka (and its 429 cooled it)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"x{i}"}])
        if "aaaa-secret" in keys_of(upstream):
            break
    served = keys_of(upstream).count("bbbb-secret")
    term = Terminal(
        [
            str(VENV_BIN / "crosswire"),
            "top",
            "-c",
            str(proxy.config_path),
            "--listen",
            f"127.0.0.1:{proxy.port}",
            "--interval",
            "0.3",
        ],
        {**os.environ, **ENV},
    )
    try:
        first = term.wait_for(lambda s: "BACKEND" in s and " kb " in s)
        assert first.lstrip().startswith("crosswire top")
        assert f"127.0.0.1:{proxy.port}" in first
        assert "cooling" in row(first, "ka")
        assert re.search(r"up/ka cooling until \d\d:\d\d:\d\d: 429", first), first  # and why
        kb = row(first, "kb")
        assert "ok" in kb and "0/4" in kb and f"{served}/60" in kb
        # More traffic: the same screen is redrawn in place with the new figures.
        for i in range(2):
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"y{i}"}]
            )
        later = term.wait_for(lambda s: f"{served + 2}/60" in row(s, "kb"))
        assert "2 requests in " in later, later  # since top started
        assert term.output.count(HOME) >= 2, "refreshed in place, not printed again"
        os.write(term.fd, b"\x03")  # Ctrl-C, typed
        deadline = time.monotonic() + 10
        while term.proc.poll() is None and time.monotonic() < deadline:
            term.read()
        term.read()
        assert term.proc.returncode == 0
        tail = term.output[-200:]
        assert b"\x1b[?1049l" in tail, "left the alternate screen"
        assert b"\x1b[?25h" in tail, "cursor shown again"
        assert b"Traceback" not in term.output and b"KeyboardInterrupt" not in term.output
        for secret in ENV.values():
            assert secret.encode() not in term.output
    finally:
        term.close()
