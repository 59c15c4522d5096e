"""Candidates for one routed request: (backend, key) pairs in route order, built lazily.

The first candidate is what mitmproxy sends. When it fails before the first byte, failover asks
for more: another key of the same backend (the pool excludes keys already tried), then the next
backend of the route — in another protocol if need be, converted from the same IR request,
which is decoded once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import cast

from crosswire import ir, upstream
from crosswire.config import Backend
from crosswire.convert import Exchange, infer_dialect
from crosswire.engine import redact
from crosswire.engine.headers import field as wire_field
from crosswire.engine.intake import CLIENT_CREDENTIAL_HEADERS, Routed
from crosswire.jsonpatch import get_top_level, set_top_level
from crosswire.pool import Lease, NoKey, Outcome, Pool
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName, Target

#: Request headers of one protocol that must not reach a backend of another (lower-case names;
#: the engine forwards the app's raw fields, so these are bytes).
PROTOCOL_HEADER_PREFIXES = (b"openai-", b"anthropic-", b"x-goog-", b"x-stainless-helper")
#: Never copied onto an upstream request: framing, hop-by-hop, the app's credentials.
_DROP = frozenset(
    name.encode()
    for name in (
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "upgrade",
        "accept-encoding",
        "content-encoding",  # the body goes upstream decoded (identity)
        *CLIENT_CREDENTIAL_HEADERS,
    )
)
#: Plain bytes: the stream callable sees the wire's encoding (docs/mitmproxy.md §5).
_IDENTITY = (b"accept-encoding", b"identity")
_JSON = (b"content-type", b"application/json")


@dataclass(slots=True)
class Candidate:
    """One way to serve the request, fully built: where, with what, as which protocol."""

    backend: Backend
    protocol: str
    mode: str  # passthrough | convert
    lease: Lease | None
    key_name: str | None
    secret: str | None = field(repr=False)
    exchange: Exchange | None
    method: str
    url: str
    #: Raw fields, in order (the app's own, then crosswire's): what ``apply`` sends.
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stream: bool
    model_out: str
    auth_header: str | None
    #: The fields above that hold a secret, with what the stored request shows instead.
    secrets: redact.Secrets
    report: ir.Report

    @property
    def label(self) -> str:
        return f"{self.backend.name}/{self.key_name or '-'}"


class Planner:
    def __init__(self, pool: Pool, routed: Routed) -> None:
        self.pool = pool
        self.routed = routed
        self.call = routed.call
        self.detected = routed.detected
        self.route = routed.route
        self.body = routed.body
        self.model = routed.model
        self.credential = routed.credential
        self._session: str | None = None
        self.stream = routed.stream
        self.refusals: list[NoKey] = []
        self.skipped: list[str] = []
        #: Whether a candidate was built (a later backend that cannot take the request is
        #: skipped; the first one's refusal is the app's error).
        self._built_any = False
        self._index = 0
        self._tried: dict[str, set[str]] = {}
        self._keyless_done: set[str] = set()
        self._decoded: ir.Request | None = None
        #: What decoding the app's request noted (made when it is decoded: passthrough never is).
        self._decode_report: ir.Report | None = None

    @property
    def session(self) -> str:
        if self._session is None:
            self._session = self.routed.session
        return self._session

    @property
    def failover_possible(self) -> bool:
        return self.route.failover_possible

    async def next(self) -> Candidate | None:
        """The next candidate, with its key leased; None when nothing is left.

        Raises ``ClientRequestError`` only for the first backend (the app's request itself is
        bad); a later backend that cannot express the request is skipped.
        """
        while self._index < len(self.route.backends):
            backend = self.route.backends[self._index]
            lease: Lease | None = None
            if backend.keys:
                tried = self._tried.setdefault(backend.name, set())
                got = await self.pool.acquire(
                    backend.name,
                    session=self._session_for(backend),
                    est_tokens=len(self.body) // 4,
                    exclude=tried,
                )
                if isinstance(got, NoKey):
                    self.refusals.append(got)
                    self._index += 1
                    continue
                lease = got
            elif backend.name in self._keyless_done:
                self._index += 1
                continue
            candidate = self._take(backend, lease)
            if candidate is not None:
                return candidate
        return None

    def first_now(self) -> Candidate | None:
        """The first candidate without awaiting anything — or None when that is not possible
        (its lease needs the shared store, a wait, or a refusal): then ``next`` makes it.
        Raises ``ClientRequestError`` as ``next`` does."""
        backend = self.route.backends[0]
        lease: Lease | None = None
        if backend.keys:
            lease = self.pool.acquire_now(
                backend.name, session=self._session_for(backend), est_tokens=len(self.body) // 4
            )
            if lease is None:
                return None
        return self._take(backend, lease)

    def _session_for(self, backend: Backend) -> str | None:
        return self.session if self.pool.sticky(backend.name) else None

    def _take(self, backend: Backend, lease: Lease | None) -> Candidate | None:
        """The candidate of ``backend`` with ``lease`` (None: the backend has no keys), now
        counted as tried; None when a later backend cannot express the request (skipped)."""
        if lease is not None:
            self._tried.setdefault(backend.name, set()).add(lease.key_name)
        else:
            self._keyless_done.add(backend.name)
        try:
            candidate = self._build(backend, lease)
        except ir.ClientRequestError as exc:
            if lease is not None:
                self.pool.release_soon(lease, _outcome_unused())
            if self._index == 0 and not self._built_any:
                raise
            self.skipped.append(f"{backend.name}: {exc}")
            self._index += 1
            return None
        self._built_any = True
        return candidate

    def skip_backend(self, name: str) -> None:
        """No more keys of ``name``: its host could not be reached, and another key would go to
        the same host (mitmproxy even hands back the failed connection at once)."""
        if self._index < len(self.route.backends) and self.route.backends[self._index].name == name:
            self._index += 1

    def _build(self, backend: Backend, lease: Lease | None) -> Candidate:
        detected = self.detected
        protocol = cast(
            ProtocolName, detected.protocol if backend.protocol == "auto" else backend.protocol
        )
        base = backend.config.base_url
        dialect = infer_dialect(protocol, base, backend.config.dialect)
        model_out = self.route.config.model or self.model or ""
        default_max, ceiling = backend.limits_for(model_out)
        decoding = self._decode_report
        report = ir.Report(notes=list(decoding.notes)) if decoding is not None else ir.Report()
        if lease is not None:
            key_name, secret = lease.key_name, lease.secret
        elif backend.config.client_auth and self.credential:
            key_name, secret = "(app's own key)", self.credential
        else:
            key_name, secret = None, None
        # The app's own field tuples, not copies: they live as long as the flow anyway.
        headers = [f for f in self.routed.fields if f[0].lower() not in _DROP]
        exchange: Exchange | None = None
        stream = self.stream
        if protocol == detected.protocol:
            mode = "passthrough"
            path = self.call.path
            if detected.protocol == "gemini" and detected.model and model_out != detected.model:
                path = path.replace(f"/{detected.model}:", f"/{model_out}:", 1)
            url = upstream.passthrough_path(detected.protocol, path, base)
            if self.call.query:
                url = upstream.with_query(url, upstream.clean_query(self.call.query))
            body = self.body
            if self.model and model_out != self.model and detected.protocol != "gemini":
                body = set_top_level(body, "model", model_out) or body
            if ceiling is not None:
                for key in codec(detected.protocol).wire.max_tokens_keys:
                    asked = get_top_level(body, key)
                    if isinstance(asked, int) and asked > ceiling:
                        body = set_top_level(body, key, ceiling) or body
                        report.clamped(key, f"{asked} → {ceiling} (backend limit)")
            method = self.call.method
        elif self.call.endpoint != "generate":
            # A side endpoint (model list, token count) of another protocol: answered locally.
            mode, url, body, method = "convert", "", self.body, self.call.method
        else:
            mode = "convert"
            target = Target(
                protocol=protocol,
                model=model_out,
                dialect=dialect,  # type: ignore[arg-type]
                default_max_tokens=default_max,
                max_output_tokens=ceiling,
                api_version=backend.config.anthropic_version
                if protocol == "anthropic"
                else backend.config.api_version,
            )
            exchange = Exchange(
                call=self.call,
                client=codec(detected.protocol),
                backend=codec(protocol),
                target=target,
                report=report,
            )  # type: ignore[arg-type]
            if self._decoded is None:
                self._decoded = exchange.decode(self.body)
                self._decode_report = ir.Report(notes=list(report.notes))
            else:
                exchange.request = self._decoded
            up = exchange.encode()
            stream = up.stream
            url = upstream.with_query(upstream.join(base, up.path), dict(up.query))
            headers = [
                f
                for f in headers
                if not (name := f[0].lower()).startswith(PROTOCOL_HEADER_PREFIXES)
                and name != b"content-type"
            ]
            headers += [wire_field(k, v) for k, v in up.headers.items()]
            if not any(k.lower() == b"content-type" for k, _ in headers):
                headers.append(_JSON)
            body = up.body
            method = up.method
        bearer = (
            lease is None
            and secret is not None
            and protocol == detected.protocol
            and self._app_used_bearer()
        )
        own = own_fields(backend, protocol, dialect, key_name, secret, bearer, lease is not None)
        headers += own.fields
        return Candidate(
            backend=backend,
            protocol=protocol,
            mode=mode,
            lease=lease,
            key_name=key_name,
            secret=secret,
            exchange=exchange,
            method=method,
            url=url,
            headers=headers,
            body=body,
            stream=stream,
            model_out=model_out,
            auth_header=own.auth_name,
            secrets=own.secrets,
            report=report,
        )

    def _app_used_bearer(self) -> bool:
        return any(
            k.lower() == b"authorization" and v[:7].lower() == b"bearer "
            for k, v in self.routed.fields
        )

    def decoded(self) -> ir.Request:
        """The app's request in the IR (decoded on demand, once)."""
        if self._decoded is None:
            if self._decode_report is None:
                self._decode_report = ir.Report()
            self._decoded = codec(self.call.protocol).decode_request(
                self.call, self.body, self._decode_report
            )
            if self.call.model and not self._decoded.model:
                self._decoded = dataclasses.replace(self._decoded, model=self.call.model)
        return self._decoded


@dataclass(frozen=True, slots=True)
class OwnFields:
    """crosswire's own fields on an upstream request, after the app's: the credential, the
    backend's configured headers, ``accept-encoding: identity``."""

    fields: tuple[tuple[bytes, bytes], ...]
    #: The field that carries the key (None: no key).
    auth_name: str | None
    #: The fields above that hold a secret, with what the stored request shows instead.
    secrets: redact.Secrets


def own_fields(
    backend: Backend,
    protocol: str,
    dialect: str,
    key_name: str | None,
    secret: str | None,
    bearer: bool,
    pooled: bool,
) -> OwnFields:
    """The same for every request a pooled key sends in one protocol, so made once per (key,
    protocol) and kept with the backend; an app's own key (``client_auth``) is not kept.
    ``bearer``: the app's own key keeps the Bearer form it came in (Claude Code's OAuth token
    ``sk-ant-oat…`` is only accepted that way)."""
    memo_key = (protocol, dialect, key_name, secret)
    if pooled:
        found: OwnFields | None = backend.memo.get(memo_key)
        if found is not None:
            return found
    auth_name = None
    own = [wire_field(k, v) for k, v in backend.config.headers.items()]
    if secret:
        if bearer:
            auth_name, value = "authorization", f"Bearer {secret}"
        else:
            auth_name, value = codec(cast(ProtocolName, protocol)).wire.credential(secret, dialect)
        own.insert(0, wire_field(auth_name, value))
    # The app's credentials are dropped before these are added: only these can hold one.
    auth = auth_name.lower().encode() if auth_name else None
    secrets = []
    for f in own:
        shown = redact.marker(f[0], auth, key_name)
        if shown is not None:
            secrets.append((f, shown))
    own.append(_IDENTITY)
    made = OwnFields(tuple(own), auth_name, tuple(secrets))
    if pooled:
        backend.memo[memo_key] = made
    return made


def _outcome_unused() -> Outcome:
    """A lease taken for a request that was never sent: nothing to learn or count."""
    return Outcome(status=0, headers={})
