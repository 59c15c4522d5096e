"""The lifecycle pieces without a proxy: the CA key's mode, exposure, the drain's timing."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest

from crosswire import lifecycle


def test_ca_key_files_become_owner_only(tmp_path: Path) -> None:
    key = tmp_path / "mitmproxy-ca.pem"
    p12 = tmp_path / "mitmproxy-ca.p12"
    cert = tmp_path / "mitmproxy-ca-cert.pem"
    for path in (key, p12, cert):
        path.write_text("x")
        path.chmod(0o644)
    p12.chmod(0o600)
    fixed = lifecycle.secure_ca_key(tmp_path)
    assert fixed == [(key, 0o644)]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644  # the certificate is public
    assert lifecycle.secure_ca_key(tmp_path) == []


def test_a_missing_confdir_is_no_error(tmp_path: Path) -> None:
    assert lifecycle.secure_ca_key(tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    ("host", "reachable"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("", True),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.10", True),
        ("fe80::1%eth0", True),
    ],
)
def test_exposed_addresses(host: str, reachable: bool) -> None:
    assert bool(lifecycle.exposed([(host, 8080)])) is reachable


def test_warning_only_without_any_authentication(caplog: pytest.LogCaptureFixture) -> None:
    addrs = [("0.0.0.0", 8080)]
    with caplog.at_level(logging.WARNING, logger="crosswire"):
        assert lifecycle.warn_if_exposed(addrs, "", 0)
        assert not lifecycle.warn_if_exposed(addrs, "user:pass", 0)
        assert not lifecycle.warn_if_exposed(addrs, "", 2)
        assert not lifecycle.warn_if_exposed([("127.0.0.1", 8080)], "", 0)
    assert len(caplog.records) == 1
    assert "0.0.0.0:8080" in caplog.records[0].getMessage()


async def test_drain_waits_for_in_flight_then_shuts_down() -> None:
    live = {"a", "b"}
    calls: list[str] = []
    drain = lifecycle.Drain(
        in_flight=lambda: len(live),
        stop_listening=lambda: calls.append("stop listening"),
        shutdown=lambda: calls.append("shutdown"),
    )
    drain.start(5.0)
    assert drain.draining
    await asyncio.sleep(0.1)
    assert calls == ["stop listening"]
    live.clear()
    await asyncio.sleep(0.15)
    assert calls == ["stop listening", "shutdown"]


async def test_drain_is_bounded_and_a_second_sigterm_stops_at_once() -> None:
    calls: list[str] = []
    drain = lifecycle.Drain(lambda: 1, lambda: None, lambda: calls.append("shutdown"))
    drain.start(0.1)
    await asyncio.sleep(0.3)
    assert calls == ["shutdown"]

    calls.clear()
    drain = lifecycle.Drain(lambda: 1, lambda: None, lambda: calls.append("shutdown"))
    drain.start(60)
    drain.start(60)
    assert calls == ["shutdown"]
    drain.cancel()
