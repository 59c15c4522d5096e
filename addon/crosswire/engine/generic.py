"""Endpoints crosswire does not model (files, embeddings, batches…) on an inspection route.

When a route's first backend passes the app's protocol through (``protocol: auto``), any other
path on that host is forwarded as it is to the backend's base URL — with a pooled key when the
backend has keys, else with the app's own credential — and released like any other lease.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mitmproxy import http

from crosswire import upstream
from crosswire.engine import layer_patch, redact
from crosswire.engine.headers import target_host
from crosswire.engine.intake import CLIENT_CREDENTIAL_HEADERS, Generic
from crosswire.engine.record import META, Record
from crosswire.pool import Lease
from crosswire.protocols import codec
from crosswire.routing import host_protocol

if TYPE_CHECKING:
    from crosswire.engine.runtime import Runtime


class GenericFlight:
    def __init__(self, runtime: Runtime, record: Record) -> None:
        self.runtime = runtime
        self.record = record
        self.lease: Lease | None = None
        self.auth_header: str | None = None

    async def send(self, flow: http.HTTPFlow, intake: Generic) -> None:
        backend = intake.route.backends[0]
        req = flow.request
        base = backend.config.base_url
        query = dict(intake.query)
        if backend.keys:
            got = await self.runtime.pool.acquire(backend.name)
            self.lease = got if isinstance(got, Lease) else None
        if self.lease is not None:
            for name in CLIENT_CREDENTIAL_HEADERS:
                req.headers.pop(name, None)
            protocol = host_protocol(target_host(req))
            self.auth_header, value = codec(protocol).wire.credential(self.lease.secret, "openai")
            req.headers[self.auth_header] = value
            query = upstream.clean_query(query)
            self.record.key = self.lease.key_name
        req.url = upstream.with_query(
            upstream.join(base, upstream.relative_to_base(intake.path, base)), query
        )
        self.record.backend = backend.name
        layer_patch.expect_answer(flow)
        flow.comment = f"{req.method} {intake.path} (passthrough) · {intake.route.label} · backend {backend.name}"

    def on_headers(self, flow: http.HTTPFlow) -> None:
        self.record.first_byte = time.time()
        redact.stored_request(flow, self.auth_header, self.record.key)

    async def on_response(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        self.record.status = flow.response.status_code
        await self._end(flow, flow.response.status_code)

    async def on_error(self, flow: http.HTTPFlow) -> None:
        layer_patch.answer(flow, layer_patch.Answer())  # mitmproxy's own answer: not an AI call
        await self._end(flow, None)
        flow.marked = ":x:"

    async def _end(self, flow: http.HTTPFlow, status: int | None) -> None:
        redact.stored_request(flow, self.auth_header, self.record.key)
        self.runtime.keeper.release(self.lease, status, self.record.route)
        self.lease = None
        self.record.ended = time.time()
        flow.metadata[META] = self.record.to_dict()
