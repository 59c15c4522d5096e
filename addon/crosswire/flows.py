"""The engine behind the hooks: route, convert or pass through, lease, fail over, account, redact.

Kept apart from ``addon.py`` so the hook class stays glue. Everything here works on a
``mitmproxy.http.HTTPFlow`` but holds no mitmproxy state of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from mitmproxy import http

from crosswire import ir, responses_socket, upstream, usage
from crosswire.access import Access
from crosswire.config import Config
from crosswire.convert import StreamConverter, StreamFailed, infer_dialect
from crosswire.exchange_state import META, ORIGINAL_REQUEST, ORIGINAL_URL, UPSTREAM_BODY, Live
from crosswire.jsonpatch import get_top_level
from crosswire.planner import Candidate, Planner
from crosswire.pool import BackendSpec, KeySpec, Lease, Outcome, Pool, TokenUsage, make_store
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, EncodedError, ModelInfo
from crosswire.relay import SERVED_HEADER, Attempt, Failure, Job, Relay
from crosswire.routing import Detected, Route, Router, detect, host_protocol, to_call

log = logging.getLogger("crosswire")

_SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id", "session_id", "x-conversation-id")
_STREAM_TYPES = (b"text/event-stream", b"application/x-ndjson")
#: What each protocol's stream ends with; a passthrough stream without it was cut short.
_TERMINATORS: Mapping[str, tuple[bytes, ...]] = {
    "openai-chat": (b"[DONE]",),
    "fim": (b"[DONE]",),
    "openai-completions": (b"[DONE]",),
    "anthropic": (b"message_stop",),
    "openai-responses": (b"response.completed", b"response.incomplete", b"response.failed"),
    "gemini": (b"finishReason",),
    "ollama": (b'"done":true', b'"done": true'),
}


class Engine:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.router = Router(cfg)
        self.pool = Pool(make_store(cfg.file.state))
        self.pool.configure(_pool_specs(cfg))
        self.relay = Relay()
        self.access = Access(cfg.file.clients)
        self.live: dict[str, Live] = {}

    def reconfigure(self, cfg: Config) -> None:
        if cfg.file.state != self.cfg.file.state:
            log.warning("crosswire: 'state' changes take effect on restart")
        self.cfg = cfg
        self.router = Router(cfg)
        self.pool.configure(_pool_specs(cfg))
        if cfg.file.clients != self.access.clients:
            self.access = Access(cfg.file.clients)

    def summary(self) -> str:
        keys = sum(len(b.keys) for b in self.cfg.backends.values())
        return (
            f"{len(self.cfg.routes)} routes, {len(self.cfg.backends)} backends, {keys} keys; "
            f"decrypting {', '.join(self.router.hosts) or 'nothing'}"
        )

    async def background(self) -> None:
        """Start the relay; then periodic pool upkeep."""
        if not self.relay.running:
            await self.relay.start()
        while True:
            await asyncio.sleep(1)
            for backend_name, key in self.pool.due_probes():
                backend = self.cfg.backends.get(backend_name)
                if backend is not None:
                    ok = await self._probe(backend, key.secret)
                    await self.pool.mark_probe(backend_name, key.name, ok)
                    if ok:
                        log.info(
                            "crosswire: key %s/%s answers again; re-enabled", backend_name, key.name
                        )

    async def _probe(self, backend: Any, secret: str) -> bool:
        """A cheap authenticated call (the model list) to see whether a disabled key works again."""
        protocol = backend.protocol if backend.protocol != "auto" else "openai-chat"
        dialect = infer_dialect(protocol, backend.config.base_url, backend.config.dialect)
        base = backend.config.base_url
        path = {"anthropic": "/v1/models", "gemini": "/v1beta/models", "ollama": "/api/tags"}.get(
            protocol, "/models"
        )
        name, value = upstream.auth_header(protocol, dialect, secret)
        headers = {name: value, "anthropic-version": "2023-06-01"}
        try:
            resp = await self.relay.client.get(
                upstream.join(base, path), headers=headers, timeout=10
            )
        except Exception:
            return False
        return resp.status_code < 400

    async def shutdown(self) -> None:
        await self.relay.close()
        await self.pool.close()

    # ---- request ------------------------------------------------------------------------

    async def on_request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        host = req.pretty_host
        if host == self.cfg.file.metrics_host:
            await self._serve_metrics(flow)
            return
        if not self.router.routes_host(host):
            return
        path = req.path.split("?", 1)[0]
        query = {k: v for k, v in req.query.items()}
        headers = {k.lower(): v for k, v in req.headers.items()}
        if headers.get("upgrade", "").lower() == "websocket":
            self._websocket(flow, host, path, query)
            return
        detected = detect(req.method, path, query, headers)
        if detected is None:
            route = self.router.match(host, path, None, "")
            if route is not None and route.backends[0].protocol == "auto":
                await self._generic_passthrough(flow, route, path, query)
            elif route is not None:
                err = ir.Error.of(
                    "not_found",
                    f"crosswire: {req.method} {path} is not an endpoint it routes on {host}",
                )
                self._respond_error(flow, host_protocol(host), None, err)
                flow.comment = (
                    f"{host_protocol(host)} (refused) · unknown endpoint {req.method} {path}"
                )
            return
        call = to_call(detected, req.method, path, query, headers, host)
        try:
            body = req.content or b""
        except ValueError:
            self._refuse(
                flow, call, ir.Error.of("invalid_request", "request body cannot be decoded")
            )
            return
        limit = self.cfg.file.limits.max_body_bytes
        if len(body) > limit:
            self._refuse(
                flow,
                call,
                ir.Error.of(
                    "request_too_large",
                    f"request body is {len(body)} bytes; this proxy accepts at most {limit}",
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
        credential = upstream.client_credential(headers, query)
        client, denied = self.access.admit(credential, route.index + 1)
        if denied is not None:
            self._refuse(
                flow,
                call,
                denied,
                label=f"{call.protocol} (refused) · {route.label} · {denied.message}",
            )
            return
        if client is not None:
            credential = None  # a client token is never forwarded upstream
        planner = Planner(
            self.pool,
            call=call,
            detected=detected,
            route=route,
            body=body,
            model=model,
            headers=[(k, v) for k, v in req.headers.items()],
            query=query,
            credential=upstream.client_credential(headers, query),
            session=_session_of(headers, body),
            stream=_wants_stream(detected, body),
        )
        await self._route(flow, planner, route, body, client.name if client else None)

    async def _route(
        self,
        flow: http.HTTPFlow,
        planner: Planner,
        route: Route,
        body: bytes,
        client_name: str | None,
    ) -> None:
        call = planner.call
        try:
            first = await planner.next()
        except ir.ClientRequestError as exc:
            self._refuse(
                flow,
                call,
                exc.to_error(),
                label=f"{call.protocol} (refused) · {route.label} · {exc}",
            )
            return
        if first is None:
            retry = min(
                (r.retry_after for r in planner.refusals if r.retry_after is not None), default=None
            )
            reason = (
                "; ".join([r.reason for r in planner.refusals] + planner.skipped)
                or "no usable backend"
            )
            err = ir.Error(
                kind="rate_limit",
                message=f"crosswire: no key available right now ({reason})",
                status=429,
                retry_after=retry,
            )
            self._refuse(
                flow, call, err, label=f"{call.protocol} (refused) · {route.label} · {reason}"
            )
            return
        live = Live(
            mode=first.mode,
            client_protocol=call.protocol,
            backend_protocol=first.protocol,
            route=route.label,
            model_in=planner.model,
            started=time.monotonic(),
            copy_limit=self.cfg.file.limits.store_stream_bytes,
            planner=planner,
        )
        live.use(first)
        live.attempts.append(first.label)
        req = flow.request
        url = req.pretty_url
        if "key" in req.query:  # Gemini's ?key= is the app's credential (maybe a client token)
            url = re.sub(r"([?&]key=)[^&#]*", r"\1<redacted>", url)
        flow.metadata[ORIGINAL_URL] = f"{req.method} {url}"
        if first.mode == "convert":
            flow.metadata[ORIGINAL_REQUEST] = body[: live.copy_limit]
            if call.endpoint != "generate":
                await self._answer_locally(flow, live, planner)
                return
        _apply(flow, first)
        mode = self.cfg.file.failover
        if self.relay.running and (
            mode == "always" or (mode == "relay" and planner.failover_possible)
        ):
            live.relay_url = self.relay.submit(self._job(live, planner, first))
            flow.request.url = live.relay_url
        self.live[flow.id] = live
        flow.comment = live.comment()
        flow.metadata[META] = live.record()

    def _job(self, live: Live, planner: Planner, first: Candidate) -> Job:
        pending: list[Candidate] = [first]

        async def next_attempt() -> Attempt | None:
            candidate: Candidate | None
            if pending:
                candidate = pending.pop()
            else:
                candidate = await planner.next()
                if candidate is None:
                    return None
                live.attempts.append(candidate.label)
            headers = [
                (k, v) for k, v in candidate.headers if k.lower() not in ("host", "content-length")
            ]
            return Attempt(
                label=candidate.label,
                method=candidate.method,
                url=candidate.url,
                headers=headers,
                body=candidate.body,
                timeout=candidate.backend.config.timeout,
            )

        async def on_failure(attempt: Attempt, failure: Failure) -> None:
            candidate = planner.built.get(attempt.label)
            what = f"{failure.status}" if failure.status is not None else "unreachable"
            live.failures.append(f"{attempt.label} {what}")
            if candidate is not None and candidate.lease is not None:
                await self._release_lease(
                    candidate.lease, failure.status, failure.headers, failure.body, None, live.route
                )

        return Job(next_attempt, on_failure, max_attempts=self.cfg.file.failover_attempts)

    def _websocket(
        self, flow: http.HTTPFlow, host: str, path: str, query: Mapping[str, str]
    ) -> None:
        """Codex CLI first tries Responses over a WebSocket. A route whose backend speaks
        Responses (or passes through) gets the WebSocket retargeted; any other backend gets a
        quick refusal so the app falls back to HTTPS at once."""
        route = self.router.match(host, path, None, "openai-responses")
        if route is None:
            return
        backend = route.backends[0]
        if backend.protocol in ("auto", "openai-responses") and not backend.keys:
            rel = (
                path[3:]
                if path.startswith("/v1/") and backend.config.base_url.endswith("/v1")
                else path
            )
            flow.request.url = upstream.with_query(
                upstream.join(backend.config.base_url, rel), query
            )
            flow.comment = (
                f"openai-responses websocket (passthrough) · {route.label} · backend {backend.name}"
            )
            return
        if responses_socket.accept(flow, route):
            return
        err = ir.Error.of(
            "not_found", "crosswire: Responses over WebSocket is not converted here; use HTTPS"
        )
        self._respond_error(flow, "openai-responses", None, err)
        flow.comment = f"websocket refused (the app falls back to HTTPS) · {route.label}"

    async def _answer_locally(self, flow: http.HTTPFlow, live: Live, planner: Planner) -> None:
        """Side endpoints whose backend speaks another protocol: model lists and token counts."""
        call = planner.call
        client = codec(call.protocol)
        try:
            if call.endpoint == "models":
                content = client.encode_models(
                    call, [ModelInfo(id=m) for m in self.router.models()]
                )
            else:
                from crosswire.ir.estimate import estimate_input_tokens

                content = client.encode_count_tokens(call, estimate_input_tokens(planner.decoded()))
        except ir.ClientRequestError as exc:
            self._refuse(flow, call, exc.to_error())
            content = None
        except NotImplementedError:
            self._refuse(
                flow, call, ir.Error.of("not_found", f"{call.protocol} has no such endpoint")
            )
            content = None
        if content is not None:
            headers = {"content-type": "application/json"}
            if call.endpoint == "count_tokens":
                headers["x-crosswire-estimate"] = "true"
            flow.response = http.Response.make(200, content, headers)
            flow.comment = (
                f"{call.protocol} (answered by crosswire) · {live.route} · {call.endpoint}"
            )
        if live.lease is not None:
            await self._release_lease(live.lease, 0, {}, None, None, live.route)

    async def _generic_passthrough(
        self, flow: http.HTTPFlow, route: Route, path: str, query: Mapping[str, str]
    ) -> None:
        """Endpoints crosswire does not model (files, embeddings…) on an inspection route."""
        backend = route.backends[0]
        req = flow.request
        base = backend.config.base_url
        prefix = "/v1" if base.rstrip("/").endswith("/v1") else ""
        rel = path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path
        lease = None
        if backend.keys:
            got = await self.pool.acquire(backend.name)
            lease = got if isinstance(got, Lease) else None
        if lease is not None:
            for name in upstream.CLIENT_CREDENTIAL_HEADERS:
                req.headers.pop(name, None)
            name, value = upstream.auth_header(
                host_protocol(req.pretty_host), "openai", lease.secret
            )
            req.headers[name] = value
            query = upstream.clean_query(query)
        req.url = upstream.with_query(upstream.join(base, rel), query)
        live = Live(
            mode="passthrough",
            client_protocol="http",
            backend_protocol="http",
            route=route.label,
            started=time.monotonic(),
        )
        live.backend = backend.name
        if lease is not None:
            live.lease, live.key_name, live.secret = lease, lease.key_name, lease.secret
            live.auth_header = name
        self.live[flow.id] = live
        flow.comment = f"{req.method} {path} (passthrough) · {route.label} · backend {backend.name}"

    # ---- response -----------------------------------------------------------------------

    def on_responseheaders(self, flow: http.HTTPFlow, live: Live) -> None:
        resp = flow.response
        assert resp is not None
        served = resp.headers.get(SERVED_HEADER)
        if served is not None:
            del resp.headers[SERVED_HEADER]
            self._switch_to_served(live, served)
        self._redact(flow, live)
        if resp.status_code >= 400 or not live.stream:
            return
        content_type = resp.headers.get("content-type", "").encode()
        if live.mode == "passthrough":
            tap = usage.Tap()
            live.tap = tap
            live.client_copy = (
                bytearray()
            )  # kept (bounded) for the view: streamed bodies are not stored
            resp.stream = _passthrough_stream(tap, live)
            return
        if live.exchange is None:
            return
        is_stream = content_type.startswith(_STREAM_TYPES) or (
            live.backend_protocol == "gemini"
            and content_type.startswith(b"application/json")
            and ":streamGenerateContent" in live.upstream_url
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

    def _switch_to_served(self, live: Live, served: str) -> None:
        """The relay says which attempt answered: convert with *its* codec, release *its* key."""
        fields = served.split(";")
        label = fields[1] if len(fields) > 1 else ""
        live.relay_failed = len(fields) > 2 and fields[2] == "failed"
        planner = live.planner
        candidate = planner.built.get(label) if planner is not None else None
        if candidate is not None:
            live.use(candidate)  # a failure body is in the last attempt's protocol
        if live.relay_failed:
            live.lease = None  # every attempt's lease was released with its failure

    async def on_response(self, flow: http.HTTPFlow, live: Live) -> None:
        self.live.pop(flow.id, None)
        resp = flow.response
        assert resp is not None
        self._redact(flow, live)
        if live.relay_url:
            flow.request.url = live.upstream_url  # show the real upstream, not the relay
        if resp.headers.pop("x-crosswire-unreachable", None) and live.planner is not None:
            # No upstream answered at all: the app gets the relay's verdict in its own shape.
            err = ir.Error(kind="unavailable", status=502, message=_relay_message(resp.content))
            _set_error(resp, codec(live.client_protocol).encode_error(live.planner.call, err))  # type: ignore[arg-type]
            live.exchange = None
            live.mode = "refused" if live.mode == "passthrough" else live.mode
        status = resp.status_code
        got_usage: ir.Usage | None = None
        error_body: bytes | None = None
        if live.converter is not None:
            got_usage = live.converter.usage
            if live.client_copy is not None:
                resp.content = bytes(live.client_copy)
            flow.metadata[UPSTREAM_BODY] = bytes(live.upstream_copy or b"")
            if live.converter.error is not None:
                flow.marked = ":warning:"
        elif live.mode == "passthrough":
            if live.tap is not None:
                got_usage = live.tap.usage(live.backend_protocol)
                if live.client_copy is not None:
                    resp.raw_content = bytes(live.client_copy)  # the bytes as the app received them
            elif status < 400 and resp.content:
                got_usage = usage.scan(live.backend_protocol, resp.content[-65536:])
            if status >= 400:
                error_body = resp.content
                if live.secret and error_body and live.secret.encode() in error_body:
                    resp.content = error_body.replace(live.secret.encode(), b"<redacted>")
                flow.marked = ":x:"
        elif live.exchange is not None:
            body = resp.content or b""
            flow.metadata[UPSTREAM_BODY] = body[: live.copy_limit]
            if status >= 400:
                error_body = body
                if live.secret and live.secret.encode() in body:  # never echo a pool key to the app
                    body = body.replace(live.secret.encode(), b"<redacted>")
                encoded = live.exchange.error(status, _lower(resp.headers), body)
                _set_error(resp, encoded)
                flow.marked = ":x:"
            else:
                try:
                    out = live.exchange.response(
                        body, resp.headers.get("content-type", "application/json")
                    )
                    got_usage = live.exchange.last_usage
                    resp.content = out
                    resp.headers["content-type"] = live.client_content_type()
                except StreamFailed as exc:
                    _set_error(
                        resp, live.exchange.client.encode_error(live.exchange.call, exc.error)
                    )
                    flow.marked = ":x:"
                except ir.ConversionError as exc:
                    _set_error(
                        resp, live.exchange.client.encode_error(live.exchange.call, exc.to_error())
                    )
                    flow.marked = ":x:"
            dropped = live.report.header_value()
            if dropped:
                resp.headers["x-crosswire-dropped"] = dropped
        if live.relay_failed:
            flow.marked = ":x:"
        elif live.failures:
            flow.marked = ":arrows_counterclockwise:"
        if live.lease is not None:
            await self._release_lease(
                live.lease, status, _lower(resp.headers), error_body, got_usage, live.route
            )
            live.lease = None
        flow.comment = live.comment()
        flow.metadata[META] = live.record()

    async def on_error(self, flow: http.HTTPFlow, live: Live) -> None:
        self.live.pop(flow.id, None)
        self._redact(flow, live)
        if live.relay_url:
            self.relay.forget(live.relay_url)
            flow.request.url = live.upstream_url
        if live.lease is not None:
            got = live.converter.usage if live.converter else None
            status = flow.response.status_code if flow.response else None
            await self._release_lease(live.lease, status, {}, None, got, live.route)
            live.lease = None
        flow.comment = live.comment() + " · failed: " + (flow.error.msg if flow.error else "?")
        flow.marked = ":x:"
        flow.metadata[META] = live.record()

    async def _serve_metrics(self, flow: http.HTTPFlow) -> None:
        """``http://crosswire.local/metrics`` (Prometheus) and ``/keys`` (JSON), through the proxy."""
        path = flow.request.path.split("?", 1)[0]
        states = await self.pool.snapshot()
        if path == "/metrics":
            body = self.pool.prometheus(states).encode()
            flow.response = http.Response.make(
                200, body, {"content-type": "text/plain; version=0.0.4"}
            )
        elif path in ("/keys", "/keys.json"):
            data = {"keys": [_state_dict(s) for s in states], "clients": self.access.usage()}
            flow.response = http.Response.make(
                200, json.dumps(data, indent=2).encode(), {"content-type": "application/json"}
            )
        else:
            flow.response = http.Response.make(
                404, b"crosswire: /metrics or /keys\n", {"content-type": "text/plain"}
            )
        flow.comment = f"crosswire {path}"

    def fail_closed(self, flow: http.HTTPFlow) -> None:
        """After an internal error: answer the app (in its protocol when known) and send
        nothing anywhere — above all not to the original host."""
        live = self.live.pop(flow.id, None)
        req = flow.request
        headers = {k.lower(): v for k, v in req.headers.items()}
        detected = detect(
            req.method, req.path.split("?", 1)[0], {k: v for k, v in req.query.items()}, headers
        )
        protocol = detected.protocol if detected else host_protocol(req.pretty_host)
        self._respond_error(
            flow,
            protocol,
            None,
            ir.Error.of(
                "api_error",
                "crosswire: internal error while routing this request (see the proxy log)",
            ),
        )
        if live is not None and live.lease is not None:
            asyncio.get_running_loop().create_task(
                self._release_lease(live.lease, 0, {}, None, None, live.route)
            )
        flow.comment = f"{protocol} (crosswire internal error)"
        flow.marked = ":x:"

    # ---- helpers ------------------------------------------------------------------------

    def _respond_error(
        self, flow: http.HTTPFlow, protocol: str, call: ClientCall | None, err: ir.Error
    ) -> None:
        encoded = codec(protocol).encode_error(call, err)  # type: ignore[arg-type]
        headers = {"content-type": "application/json", **encoded.headers}
        if err.retry_after is not None:
            headers["retry-after"] = str(max(1, int(err.retry_after + 0.999)))
            headers["retry-after-ms"] = str(max(1, int(err.retry_after * 1000)))
        flow.response = http.Response.make(encoded.status, encoded.body, headers)

    def _refuse(
        self, flow: http.HTTPFlow, call: ClientCall, err: ir.Error, label: str | None = None
    ) -> None:
        self._respond_error(flow, call.protocol, call, err)
        flow.comment = label or f"{call.protocol} (refused) · {err.message}"
        flow.marked = ":no_entry:"

    def _redact(self, flow: http.HTTPFlow, live: Live) -> None:
        """Once a request has been sent, its stored copy must not hold a secret."""
        headers = flow.request.headers
        if live.auth_header and live.auth_header in headers:
            headers[live.auth_header] = f"<redacted: {live.key_name or 'key'}>"
        for name in upstream.CLIENT_CREDENTIAL_HEADERS:
            if name in headers and not headers[name].startswith("<redacted"):
                headers[name] = "<redacted>"
        if "key" in flow.request.query:
            flow.request.query["key"] = "<redacted>"

    async def _release_lease(
        self,
        lease: Any,
        status: int | None,
        headers: Mapping[str, str],
        body: bytes | None,
        got: ir.Usage | None,
        route: str,
    ) -> None:
        tokens = None
        if got is not None:
            tokens = TokenUsage(
                input=got.input_tokens or 0,
                output=got.output_tokens or 0,
                cached=got.cache_read_tokens or 0,
            )
        try:
            await self.pool.release(
                lease, Outcome(status=status, headers=headers, body=body, usage=tokens, route=route)
            )
        except Exception:
            log.exception("crosswire: releasing a key lease failed")


def _apply(flow: http.HTTPFlow, candidate: Candidate) -> None:
    """Point the flow at the candidate's upstream with its headers and body."""
    req = flow.request
    req.method = candidate.method
    req.headers = http.Headers([(k.encode(), v.encode()) for k, v in candidate.headers])
    if candidate.body is not req.raw_content:
        req.content = candidate.body
    req.headers["content-length"] = str(len(req.raw_content or b""))
    req.url = candidate.url
    req.headers["host"] = req.host_header or req.pretty_host


def _set_error(resp: http.Response, encoded: EncodedError) -> None:
    retry_after = resp.headers.get("retry-after")
    resp.status_code = encoded.status
    resp.content = encoded.body
    resp.headers["content-type"] = "application/json"
    for name, value in encoded.headers.items():
        resp.headers[name] = value
    if retry_after and "retry-after" not in resp.headers:
        resp.headers["retry-after"] = retry_after


def _relay_message(body: bytes | None) -> str:
    try:
        return str(json.loads(body or b"{}")["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return "crosswire: no upstream could be reached"


def _lower(headers: http.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _passthrough_stream(tap: usage.Tap, live: Live) -> Any:
    protocol = live.client_protocol
    terminators = _TERMINATORS.get(protocol, ())

    def stream(data: bytes) -> bytes | list[bytes]:
        if data:
            tap.add(data)
            copy = live.client_copy
            if copy is not None and len(copy) < live.copy_limit:
                copy += data[: live.copy_limit - len(copy)]
            return data
        tail = bytes(tap.tail or tap.head)
        if terminators and not any(t in tail for t in terminators) and live.planner is not None:
            # The upstream ended without its terminator: tell the app in its own framing.
            live.cut_short = True
            encoder = codec(protocol).stream_encoder(  # type: ignore[arg-type]
                live.planner.call, ir.Request(model=live.model_out or ""), live.report
            )
            return (
                encoder.encode(
                    ir.StreamError(
                        error=ir.Error.of(
                            "api_error",
                            "crosswire: the upstream stream ended before it was complete",
                        )
                    )
                )
                + encoder.close()
            )
        return b""

    return stream


def _converting_stream(converter: StreamConverter, live: Live) -> Any:
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


def _state_dict(state: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {k: v for k, v in dataclasses.asdict(state).items() if k != "secret"}
    return dict(state)


def _pool_specs(cfg: Config) -> list[BackendSpec]:
    return [
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
            probe_interval=backend.config.probe_interval,
        )
        for backend in cfg.backends.values()
    ]
