"""The CA bundle an app trusts through the proxy: the system CAs plus the mitmproxy CA, in the
forms the runtimes read (one PEM file; a PKCS12 truststore for Java)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

from crosswire.cli.common import confdir

#: The truststore's password (it holds a public certificate only).
JAVA_STORE_PASSWORD = "crosswire"


def ca_bundle(conf: Path | None = None) -> tuple[Path, Path]:
    """(combined bundle, mitmproxy CA): the system CAs plus the mitmproxy CA in one PEM file,
    created (with the CA itself, if mitmproxy has not made one yet) on first use."""
    conf = conf or confdir()
    ca = conf / "mitmproxy-ca-cert.pem"
    if not ca.exists():
        from mitmproxy import certs

        conf.mkdir(parents=True, exist_ok=True)
        certs.CertStore.from_store(conf, "mitmproxy", 2048)
    bundle = conf / "crosswire-ca-bundle.pem"
    system = _system_cas()
    mitm = ca.read_bytes()
    content = (system.read_bytes() if system else b"").rstrip(b"\n") + b"\n" + mitm
    if not bundle.exists() or bundle.read_bytes() != content:
        bundle.write_bytes(content)
    return bundle, ca


def _system_cas() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi

        return Path(certifi.where())
    except ImportError:
        return None


def java_truststore(conf: Path, ca: Path) -> Path | None:
    """A PKCS12 truststore with the mitmproxy CA, for JAVA_TOOL_OPTIONS (needs keytool)."""
    keytool = shutil.which("keytool")
    store = conf / "crosswire-truststore.p12"
    if store.exists():
        return store
    if not keytool:
        return None
    subprocess.run(
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-alias",
            "mitmproxy",
            "-file",
            str(ca),
            "-keystore",
            str(store),
            "-storetype",
            "PKCS12",
            "-storepass",
            JAVA_STORE_PASSWORD,
        ],
        check=False,
        capture_output=True,
    )
    return store if store.exists() else None
