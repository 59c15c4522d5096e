"""A bare ``mitmdump`` for the benchmarks: started on a free loopback port, nothing saved.

The benchmarks compare crosswire with mitmproxy doing the same traffic, so both run with the
same options (lazy connections, no flow file, quiet output); only the scripts differ.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    ca: Path

    def rss_kb(self) -> int:
        return _rss_kb(self.proc.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (all its threads)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_ns(self) -> int:
        """CPU time of all the process's threads in nanoseconds (the scheduler's own count,
        far finer than the clock ticks of ``cpu_seconds``)."""
        total = 0
        try:
            tasks = list(Path(f"/proc/{self.proc.pid}/task").iterdir())
        except OSError:
            return 0
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_mitmdump(
    args: list[str], workdir: Path, confdir: Path, log_name: str = "proxy.log"
) -> Running:
    log = workdir / log_name
    out = open(log, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "mitmdump"),
            "--set",
            f"confdir={confdir}",
            "--listen-host",
            "127.0.0.1",
            "-p",
            "0",
            "--set",
            "connection_strategy=lazy",
            "--set",
            "flow_detail=0",
            *args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=str(workdir),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(
            r"proxy listening at (?:http://)?127\.0\.0\.1:(\d+)", log.read_text("latin-1")
        )
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            return Running(proc, url, log, confdir / "mitmproxy-ca-cert.pem")
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"mitmdump did not start:\n{log.read_text('latin-1')[-2000:]}")


def retarget_script(workdir: Path, upstream: str, stream: str = "True") -> Path:
    """The bare mitmdump's script: every request goes to ``upstream`` (``http://host:port``);
    an answer is streamed when ``stream``, a Python expression over ``flow``, is true."""
    host, port = upstream.removeprefix("http://").split(":")
    script = workdir / "retarget.py"
    script.write_text(
        "def request(flow):\n"
        f"    flow.request.scheme, flow.request.host, flow.request.port = 'http', {host!r}, {port}\n"
        "def responseheaders(flow):\n"
        f"    flow.response.stream = {stream}\n"
    )
    return script


def crosswire_config(workdir: Path, upstream: str, protocol: str, keys: int, host: str) -> Path:
    """A crosswire.yaml routing ``host`` to one backend of ``protocol`` with ``keys`` pooled keys."""
    base = "/v1" if protocol == "openai-chat" else ""
    key_lines = "".join(f'      - {{name: k{i}, secret: "sk-bench-{i}"}}\n' for i in range(keys))
    config = workdir / "crosswire.yaml"
    config.write_text(
        f"backends:\n  b:\n    protocol: {protocol}\n    base_url: {upstream}{base}\n"
        f"    keys:\n{key_lines}routes:\n  - match: {{host: {host}}}\n    backend: b\n"
    )
    return config
