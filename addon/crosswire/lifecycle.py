"""The proxy's life around its requests: a graceful stop, and two checks at start.

* **SIGTERM drains** (``Drain``): mitmproxy would stop at once and cut every open stream. A
  process manager sends SIGTERM to restart or scale down, so crosswire stops listening (new
  connections are refused and go to another instance), answers new requests on connections
  that are already open with a 503 in the app's protocol (``retry-after``, ``connection:
  close``), lets the requests in flight finish for up to ``drain_timeout`` seconds, then
  exits 0. A second SIGTERM (or SIGINT) stops at once.
* **The CA's private key is the owner's alone** (``secure_ca_key``): whoever reads it can
  impersonate any host to every app that trusts the CA. mitmproxy creates it owner-only, but
  a copied or restored confdir may not be; crosswire fixes the mode at start and says so.
* **Listening beyond loopback without authentication** (``exposed``): anyone who can reach
  the port then spends the pool's keys. That is a warning, not an error (a firewall may guard
  it), logged at start.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("crosswire")

#: The files in mitmproxy's confdir that hold the CA's private key (the -cert files do not).
CA_KEY_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12")


def secure_ca_key(confdir: Path) -> list[tuple[Path, int]]:
    """Make the CA's private key files readable by their owner only; what was changed, with
    the mode it had."""
    fixed: list[tuple[Path, int]] = []
    for name in CA_KEY_FILES:
        path = confdir / name
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                path.chmod(mode & 0o700)
                fixed.append((path, mode))
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.error("crosswire: cannot restrict %s to its owner: %s", path, exc)
    return fixed


def check_ca_key(confdir: Path) -> None:
    for path, mode in secure_ca_key(confdir):
        log.warning(
            "crosswire: the CA private key %s was readable by others (mode %o); now owner-only",
            path,
            mode,
        )


def exposed(addrs: Iterable[Sequence[Any]]) -> list[str]:
    """The listen addresses reachable from other machines (all interfaces, or a non-loopback
    address), as ``host:port``."""
    out = []
    for addr in addrs:
        host, port = str(addr[0]), addr[1]
        try:
            loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            out.append(f"{host or '*'}:{port}")
    return out


def warn_if_exposed(addrs: Iterable[Sequence[Any]], proxyauth: str, client_tokens: int) -> bool:
    """Log a warning when the proxy listens beyond loopback and nothing authenticates apps."""
    reachable = exposed(addrs)
    if not reachable or proxyauth or client_tokens:
        return False
    log.warning(
        "crosswire: listening on %s, reachable from other machines, without --proxyauth or "
        "client tokens: anyone who can connect spends the pool's keys",
        ", ".join(reachable),
    )
    return True


class Drain:
    """SIGTERM: stop listening, wait (bounded) for what is in flight, then shut down."""

    def __init__(
        self,
        in_flight: Callable[[], int],
        stop_listening: Callable[[], None],
        shutdown: Callable[[], None],
    ) -> None:
        self._in_flight = in_flight
        self._stop_listening = stop_listening
        self._shutdown = shutdown
        self.draining = False
        self._task: asyncio.Task[None] | None = None

    def start(self, timeout: float) -> None:
        """The signal handler: a first SIGTERM drains, a second one stops at once."""
        if self.draining:
            log.info("crosswire: second SIGTERM, stopping now")
            self._shutdown()
            return
        self.draining = True
        self._task = asyncio.get_running_loop().create_task(self._drain(timeout))

    async def _drain(self, timeout: float) -> None:
        started = time.monotonic()
        log.info(
            "crosswire: SIGTERM: no new connections; waiting up to %.0f s for %d requests in "
            "flight",
            timeout,
            self._in_flight(),
        )
        try:
            self._stop_listening()
            deadline = started + timeout
            while self._in_flight() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            raise  # the proxy is stopping anyway
        except Exception:
            log.exception("crosswire: drain failed; stopping now")
        left = self._in_flight()
        if left:
            log.warning(
                "crosswire: drain timeout (%.0f s): stopping with %d requests still in flight",
                timeout,
                left,
            )
        else:
            log.info("crosswire: drained in %.1f s; stopping", time.monotonic() - started)
        self._shutdown()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
