"""The engine behind the hooks: route, convert or pass through, lease, account, redact.

Kept apart from ``addon.py`` so the hook class stays glue. Everything here works on a
``mitmproxy.http.HTTPFlow`` but holds no mitmproxy state of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from mitmproxy import http

from crosswire import ir, upstream, usage
from crosswire.config import Backend, Config
from crosswire.convert import Exchange, StreamFailed, infer_dialect
from crosswire.exchange_state import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY, Live
from crosswire.jsonpatch import get_top_level, set_top_level
from crosswire.pool import BackendSpec, KeySpec, Lease, NoKey, Outcome, Pool, TokenUsage, make_store
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, EncodedError, ModelInfo, Target
from crosswire.routing import Detected, Route, Router, detect, host_protocol, to_call

log = logging.getLogger("crosswire")

#: Request headers of one protocol that must not reach a backend of another.
_PROTOCOL_HEADER_PREFIXES = ("openai-", "anthropic-", "x-goog-", "x-stainless-helper")
_MAX_TOKENS_KEYS = {
    "openai-chat": ("max_completion_tokens", "max_tokens"),
    "anthropic": ("max_tokens",),
    "openai-responses": ("max_output_tokens",),
    "fim": ("max_tokens",),
    "openai-completions": ("max_tokens",),
}
_SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id", "session_id", "x-conversation-id")
_STREAM_TYPES = (b"text/event-stream", b"application/x-ndjson")


class Engine:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.router = Router(cfg)
        self.pool = Pool(make_store(cfg.file.state))
        self.pool.configure(_pool_specs(cfg))
        self.live: dict[str, Live] = {}

    def reconfigure(self, cfg: Config) -> None:
        self.cfg = cfg
        self.router = Router(cfg)
        self.pool.configure(_pool_specs(cfg))

    def summary(self) -> str:
        keys = sum(len(b.keys) for b in self.cfg.backends.values())
        return (
            f"{len(self.cfg.routes)} routes, {len(self.cfg.backends)} backends, {keys} keys; "
            f"decrypting {', '.join(self.router.hosts) or 'nothing'}"
        )

    async def background(self) -> None:
        """Periodic work: nothing yet beyond keeping the pool's timers honest."""
        while True:
            await asyncio.sleep(30)

    # ---- request ------------------------------------------------------------------------

    async def on_request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        host = req.pretty_host
        if not self.router.routes_host(host):
            return
        path = req.path.split("?", 1)[0]
        query = {k: v for k, v in req.query.items()}
        headers = {k.lower(): v for k, v in req.headers.items()}
        detected = detect(req.method, path, query, headers)
        if detected is None:
            route = self.router.match(host, path, None, "")
            if route is not None and route.backends[0].protocol == "auto":
                await self._generic_passthrough(flow, route, path, query)
                return
            if route is not None:
                protocol = host_protocol(host)
                self._respond_error(
                    flow,
                    protocol,
                    None,
                    ir.Error.of(
                        "not_found",
                        f"crosswire: {req.method} {path} is not an endpoint it routes on {host}",
                    ),
                )
            return
        call = to_call(detected, req.method, path, query, headers)
        try:
            body = req.content or b""
        except ValueError:
            self._refuse(
                flow, call, ir.Error.of("invalid_request", "request body cannot be decoded")
            )
            return
        if len(body) > self.cfg.file.limits.max_body_bytes:
            self._refuse(
                flow,
                call,
                ir.Error.of(
                    "request_too_large",
                    f"request body is {len(body)} bytes; this proxy accepts at most "
                    f"{self.cfg.file.limits.max_body_bytes}",
                ),
            )
            return
        model = detected.model
        if model is None and body:
            found = get_top_level(body, "model")
            model = found if isinstance(found, str) else None
        route = self.router.match(host, path, model, detected.protocol)
        if route is None:
            return  # not ours: the flow goes to its own host untouched
        await self._route(flow, call, detected, route, body, model, headers, query)

    async def _route(
        self,
        flow: http.HTTPFlow,
        call: ClientCall,
        detected: Detected,
        route: Route,
        body: bytes,
        model: str | None,
        headers: Mapping[str, str],
        query: Mapping[str, str],
    ) -> None:
        stream = _wants_stream(detected, body)
        credential = upstream.client_credential(headers, query)
        session = _session_of(headers, body)
        refusals: list[NoKey] = []
        for backend in route.backends:
            lease: Lease | None = None
            if backend.keys:
                got = await self.pool.acquire(
                    backend.name, session=session, est_tokens=len(body) // 4
                )
                if isinstance(got, NoKey):
                    refusals.append(got)
                    continue
                lease = got
            elif not backend.config.client_auth:
                pass  # keyless backend (a local server)
            live = self._plan(call, detected, route, backend, model, stream, lease, credential)
            try:
                ok = self._prepare(flow, live, call, detected, backend, body, query)
            except Exception:
                await self._release(live, None, {}, None, None)
                raise
            if ok:
                self.live[flow.id] = live
                flow.comment = live.comment()
                flow.metadata[META] = live.record()
            else:
                await self._release(live, 400, {}, None, None)
            return
        retry = min((r.retry_after for r in refusals if r.retry_after is not None), default=None)
        reason = "; ".join(r.reason for r in refusals) or "no usable key"
        err = ir.Error(
            kind="rate_limit",
            message=f"crosswire: no key available right now ({reason})",
            status=429,
            retry_after=retry,
        )
        self._refuse(flow, call, err, label=f"{call.protocol} (refused) · {route.label} · {reason}")

    def _plan(
        self,
        call: ClientCall,
        detected: Detected,
        route: Route,
        backend: Backend,
        model: str | None,
        stream: bool,
        lease: Lease | None,
        credential: str | None,
    ) -> Live:
        protocol = detected.protocol if backend.protocol == "auto" else backend.protocol
        live = Live(
            mode="passthrough" if protocol == detected.protocol else "convert",
            client_protocol=detected.protocol,
            backend_protocol=protocol,
            route=route.label,
            backend=backend.name,
            model_in=model,
            model_out=route.config.model or model,
            stream=stream,
            lease=lease,
            started=time.monotonic(),
            copy_limit=self.cfg.file.limits.store_stream_bytes,
        )
        if lease is not None:
            live.key_name, live.secret = lease.key_name, lease.secret
        elif backend.config.client_auth and credential:
            live.key_name, live.secret = "(the app's own key)", credential
        live.attempts.append(f"{backend.name}/{live.key_name or '-'}")
        return live

    def _prepare(
        self,
        flow: http.HTTPFlow,
        live: Live,
        call: ClientCall,
        detected: Detected,
        backend: Backend,
        body: bytes,
        query: Mapping[str, str],
    ) -> bool:
        """Rewrite the flow for its backend; False when it was answered locally instead."""
        req = flow.request
        flow.metadata[ORIGINAL_URL] = f"{req.method} {req.pretty_url}"
        if live.mode == "convert":
            flow.metadata[ORIGINAL_REQUEST] = body[: live.copy_limit]
        base = backend.config.base_url
        dialect = infer_dialect(live.backend_protocol, base, backend.config.dialect)
        model_out = live.model_out or ""
        default_max, ceiling = backend.limits_for(model_out)
        if live.mode == "passthrough":
            if detected.protocol == "gemini" and detected.model and model_out != detected.model:
                path = req.path.split("?", 1)[0].replace(f"/{detected.model}:", f"/{model_out}:", 1)
            else:
                path = req.path.split("?", 1)[0]
            url = upstream.with_query(
                upstream.passthrough_path(detected.protocol, path, base),
                upstream.clean_query(query),
            )
            new_body = body
            if live.model_in and model_out != live.model_in and detected.protocol != "gemini":
                new_body = set_top_level(new_body, "model", model_out) or new_body
            if ceiling is not None:
                for key in _MAX_TOKENS_KEYS.get(detected.protocol, ()):
                    asked = get_top_level(new_body, key)
                    if isinstance(asked, int) and asked > ceiling:
                        new_body = set_top_level(new_body, key, ceiling) or new_body
                        live.report.clamped(key, f"{asked} → {ceiling} (backend limit)")
            if new_body is not body:
                req.content = new_body
        else:
            if detected.endpoint != "generate":
                return self._answer_locally(flow, live, call, body)
            client_codec, backend_codec = codec(detected.protocol), codec(live.backend_protocol)  # type: ignore[arg-type]
            target = Target(
                protocol=live.backend_protocol,  # type: ignore[arg-type]
                model=model_out,
                dialect=dialect,
                default_max_tokens=default_max,
                max_output_tokens=ceiling,
                api_version=backend.config.api_version,
            )
            exchange = Exchange(
                call=call,
                client=client_codec,
                backend=backend_codec,
                target=target,
                report=live.report,
            )
            try:
                exchange.decode(body)
                up = exchange.encode()
            except ir.ClientRequestError as exc:
                self._refuse(flow, call, exc.to_error(), label=f"{live.comment()} · refused: {exc}")
                return False
            live.exchange = exchange
            live.stream = up.stream
            live.model_out = target.model
            url = upstream.with_query(upstream.join(base, up.path), dict(up.query))
            for name in list(req.headers):
                if name.lower().startswith(_PROTOCOL_HEADER_PREFIXES):
                    del req.headers[name]
            for name in upstream.body_headers():
                req.headers.pop(name, None)
            for name, value in up.headers.items():
                req.headers[name] = value
            req.method = up.method
            req.content = up.body
        for name in upstream.CLIENT_CREDENTIAL_HEADERS:
            req.headers.pop(name, None)
        if live.secret:
            name, value = upstream.auth_header(live.backend_protocol, dialect, live.secret)
            req.headers[name] = value
            live.auth_header = name
        for name, value in backend.config.headers.items():
            req.headers[name] = value
        req.headers["accept-encoding"] = "identity"  # the addon reads and rewrites answers
        req.url = url
        return True

    def _answer_locally(
        self, flow: http.HTTPFlow, live: Live, call: ClientCall, body: bytes
    ) -> bool:
        """Side endpoints whose backend speaks another protocol: model lists and token counts."""
        client = codec(call.protocol)
        live.mode = "local"
        try:
            if call.endpoint == "models":
                models = [ModelInfo(id=m) for m in self.router.models()]
                content = client.encode_models(call, models)
            else:
                request = client.decode_request(call, body, live.report)
                from crosswire.ir.estimate import estimate_input_tokens

                content = client.encode_count_tokens(call, estimate_input_tokens(request))
        except ir.ClientRequestError as exc:
            self._refuse(flow, call, exc.to_error())
            return False
        except NotImplementedError:
            self._refuse(
                flow, call, ir.Error.of("not_found", f"{call.protocol} has no such endpoint")
            )
            return False
        headers = {"content-type": "application/json"}
        if call.endpoint == "count_tokens":
            headers["x-crosswire-estimate"] = "true"
        flow.response = http.Response.make(200, content, headers)
        flow.comment = f"{call.protocol} (answered by crosswire) · {live.route} · {call.endpoint}"
        return False

    async def _generic_passthrough(
        self, flow: http.HTTPFlow, route: Route, path: str, query: Mapping[str, str]
    ) -> None:
        """Endpoints crosswire does not model (files, embeddings…) on an inspection route."""
        backend = route.backends[0]
        req = flow.request
        base = backend.config.base_url
        prefix = "/v1" if base.rstrip("/").endswith("/v1") else ""
        rel = path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path
        headers = {k.lower(): v for k, v in req.headers.items()}
        credential = upstream.client_credential(headers, query)
        lease = None
        if backend.keys:
            got = await self.pool.acquire(backend.name)
            if isinstance(got, Lease):
                lease = got
        secret = lease.secret if lease else (credential if backend.config.client_auth else None)
        if lease is not None:
            for name in upstream.CLIENT_CREDENTIAL_HEADERS:
                req.headers.pop(name, None)
            name, value = upstream.auth_header(
                host_protocol(req.pretty_host), "openai", lease.secret
            )
            req.headers[name] = value
        req.url = upstream.with_query(
            upstream.join(base, rel), upstream.clean_query(query) if lease else query
        )
        live = Live(
            mode="passthrough",
            client_protocol="http",
            backend_protocol="http",
            route=route.label,
            backend=backend.name,
            lease=lease,
            key_name=lease.key_name if lease else None,
            secret=secret if lease else None,
            started=time.monotonic(),
        )
        live.auth_header = "authorization" if lease else None
        self.live[flow.id] = live
        flow.comment = f"{req.method} {path} (passthrough) · {route.label} · backend {backend.name}"

    # ---- response -----------------------------------------------------------------------

    def on_responseheaders(self, flow: http.HTTPFlow, live: Live) -> None:
        resp = flow.response
        assert resp is not None
        self._redact(flow, live)
        if resp.status_code >= 400 or not live.stream:
            return
        content_type = resp.headers.get("content-type", "").encode()
        if live.mode == "passthrough":
            tap = usage.Tap()
            live.upstream_copy = None
            resp.stream = _passthrough_stream(tap, live)
            live.tap = tap
            return
        if live.exchange is None:
            return
        is_stream = content_type.startswith(_STREAM_TYPES) or (
            live.backend_protocol == "gemini"
            and content_type.startswith(b"application/json")
            and flow.request.path.find(":streamGenerateContent") >= 0
        )
        if not is_stream:
            return  # a whole answer to a stream request: converted (and replayed) in `response`
        converter = live.exchange.stream()
        live.converter = converter
        live.upstream_copy = bytearray()
        live.client_copy = bytearray()
        resp.headers["content-type"] = converter.content_type
        for name in ("content-length", "content-encoding"):
            resp.headers.pop(name, None)
        if not flow.request.is_http2:
            resp.headers["transfer-encoding"] = "chunked"
        dropped = live.report.header_value()
        if dropped:
            resp.headers["x-crosswire-dropped"] = dropped
        resp.stream = _converting_stream(converter, live)

    async def on_response(self, flow: http.HTTPFlow, live: Live) -> None:
        self.live.pop(flow.id, None)
        resp = flow.response
        assert resp is not None
        self._redact(flow, live)
        status = resp.status_code
        got_usage: ir.Usage | None = None
        error_body: bytes | None = None
        if live.converter is not None:
            got_usage = live.converter.usage
            if live.client_copy is not None:
                resp.content = bytes(live.client_copy)
            flow.metadata[UPSTREAM_BODY] = bytes(live.upstream_copy or b"")
            if live.converter.error is not None and not live.converter.finish:
                flow.marked = ":warning:"
        elif live.mode == "passthrough":
            if live.tap is not None:
                got_usage = live.tap.usage(live.backend_protocol)
            elif status < 400 and resp.content:
                got_usage = usage.scan(live.backend_protocol, resp.content[-65536:])
            if status >= 400:
                error_body = resp.content
        elif live.exchange is not None:
            body = resp.content or b""
            flow.metadata[UPSTREAM_BODY] = body[: live.copy_limit]
            if status >= 400:
                error_body = body
                encoded = live.exchange.error(
                    status, {k.lower(): v for k, v in resp.headers.items()}, body
                )
                self._set_error(resp, encoded, live)
                flow.marked = ":x:"
            else:
                try:
                    content_type = resp.headers.get("content-type", "application/json")
                    out = live.exchange.response(body, content_type)
                    got_usage = live.exchange.last_usage
                    resp.content = out
                    resp.headers["content-type"] = (
                        live.exchange.client.stream_encoder(
                            live.exchange.call, live.exchange.request, live.report
                        ).content_type  # type: ignore[arg-type]
                        if live.exchange.request and live.exchange.request.stream
                        else "application/json"
                    )
                except ir.ConversionError as exc:
                    encoded = live.exchange.client.encode_error(live.exchange.call, _as_error(exc))
                    self._set_error(resp, encoded, live)
                    flow.marked = ":x:"
                except StreamFailed as exc:
                    encoded = live.exchange.client.encode_error(live.exchange.call, exc.error)
                    self._set_error(resp, encoded, live)
                    flow.marked = ":x:"
                dropped = live.report.header_value()
                if dropped:
                    resp.headers["x-crosswire-dropped"] = dropped
        await self._release(
            live, status, {k.lower(): v for k, v in resp.headers.items()}, error_body, got_usage
        )
        flow.comment = live.comment()
        flow.metadata[META] = live.record()

    async def on_error(self, flow: http.HTTPFlow, live: Live) -> None:
        self.live.pop(flow.id, None)
        self._redact(flow, live)
        status = flow.response.status_code if flow.response else None
        await self._release(
            live, status, {}, None, live.converter.usage if live.converter else None
        )
        flow.comment = live.comment() + " · upstream failed"
        flow.marked = ":x:"
        flow.metadata[META] = live.record()

    # ---- helpers ------------------------------------------------------------------------

    def _set_error(self, resp: http.Response, encoded: EncodedError, live: Live) -> None:
        retry_after = resp.headers.get("retry-after")
        resp.status_code = encoded.status
        resp.content = encoded.body
        resp.headers["content-type"] = "application/json"
        for name, value in encoded.headers.items():
            resp.headers[name] = value
        if retry_after and "retry-after" not in resp.headers:
            resp.headers["retry-after"] = retry_after

    def _respond_error(
        self, flow: http.HTTPFlow, protocol: str, call: ClientCall | None, err: ir.Error
    ) -> None:
        encoded = codec(protocol).encode_error(call, err)  # type: ignore[arg-type]
        headers = {"content-type": "application/json", **encoded.headers}
        if err.retry_after is not None:
            headers["retry-after"] = str(max(1, int(err.retry_after + 0.999)))
            headers["retry-after-ms"] = str(int(err.retry_after * 1000))
        flow.response = http.Response.make(encoded.status, encoded.body, headers)

    def _refuse(
        self, flow: http.HTTPFlow, call: ClientCall, err: ir.Error, label: str | None = None
    ) -> None:
        self._respond_error(flow, call.protocol, call, err)
        flow.comment = label or f"{call.protocol} (refused) · {err.message}"
        flow.marked = ":no_entry:"

    def _redact(self, flow: http.HTTPFlow, live: Live) -> None:
        """Once a request has been sent, its stored copy must not hold the secret."""
        if live.auth_header and live.secret and live.auth_header in flow.request.headers:
            flow.request.headers[live.auth_header] = f"<redacted: {live.key_name or 'key'}>"
        for name in upstream.CLIENT_CREDENTIAL_HEADERS:
            if name in flow.request.headers and not flow.request.headers[name].startswith(
                "<redacted"
            ):
                flow.request.headers[name] = "<redacted>"
        if "key" in flow.request.query:
            flow.request.query["key"] = "<redacted>"

    async def _release(
        self,
        live: Live,
        status: int | None,
        headers: Mapping[str, str],
        body: bytes | None,
        got: ir.Usage | None,
    ) -> None:
        if live.released or live.lease is None:
            live.released = True
            return
        live.released = True
        tokens = None
        if got is not None:
            tokens = TokenUsage(
                input=got.input_tokens or 0,
                output=got.output_tokens or 0,
                cached=got.cache_read_tokens or 0,
            )
        try:
            await self.pool.release(
                live.lease,
                Outcome(status=status, headers=headers, body=body, usage=tokens, route=live.route),
            )
        except Exception:
            log.exception("crosswire: releasing a key lease failed")


def _passthrough_stream(tap: usage.Tap, live: Live) -> Any:
    def stream(data: bytes) -> bytes:
        if data:
            tap.add(data)
        return data

    return stream


def _converting_stream(converter: Any, live: Live) -> Any:
    def stream(data: bytes) -> bytes | list[bytes]:
        try:
            out = converter.feed(data) if data else converter.close()
        except Exception:  # never let a converter bug cut the stream silently
            log.exception("crosswire: stream conversion failed")
            out = converter.fail(ir.Error.of("api_error", "crosswire: stream conversion failed"))
        live.tee(data, out)
        if data and not out:
            return []  # never b"" mid-stream: it would end an HTTP/1.1 chunked body
        return out

    return stream


def _wants_stream(detected: Detected, body: bytes) -> bool:
    if detected.stream is not None:
        return detected.stream
    value = get_top_level(body, "stream") if body else None
    if detected.protocol == "ollama":
        return value is not False  # Ollama streams unless told not to
    return value is True


def _session_of(headers: Mapping[str, str], body: bytes) -> str:
    for name in _SESSION_HEADERS:
        if headers.get(name):
            return hashlib.sha1(headers[name].encode()).hexdigest()[:16]
    # The start of a conversation's body is stable across its turns (messages are appended).
    return hashlib.sha1(body[:2048]).hexdigest()[:16]


def _pool_specs(cfg: Config) -> list[BackendSpec]:
    specs = []
    for backend in cfg.backends.values():
        specs.append(
            BackendSpec(
                name=backend.name,
                keys=tuple(
                    KeySpec(
                        name=k.name,
                        secret=k.secret,
                        weight=k.weight,
                        max_concurrency=k.max_concurrency,
                        rpm=k.rpm,
                        tpm=k.tpm,
                        pace_ms=k.pace_ms,
                    )
                    for k in backend.keys
                ),
                strategy=backend.config.strategy,
                max_wait=backend.config.max_wait,
                sticky=backend.config.sticky,
            )
        )
    return specs


def _as_error(exc: ir.ConversionError) -> ir.Error:
    return exc.to_error()
