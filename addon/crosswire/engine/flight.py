"""One routed exchange between mitmproxy's hooks: which candidate serves, failover, the lease.

A flight starts in the ``request`` hook with its first candidate (backend + leased key, the body
already converted when the backend speaks another protocol) and ends in ``response`` or
``error``. What to do with the serving candidate's answer is the job of its handler —
``Passthrough`` for the app's own protocol, ``Converting`` for another — and a failover may
switch the serving candidate, and so the handler, before the first byte reaches the app:

* whole answers go straight to the first candidate; a retryable failure (or no connection)
  is retried in process with the next candidates, and the good answer replaces the failed one;
* streams that another key or backend could serve go through the loopback relay (``relay``),
  which runs the same attempt loop and streams the first good answer back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mitmproxy import http
from mitmproxy.connection import ConnectionState
from mitmproxy.net.http import url

from crosswire import ir
from crosswire.engine import answer, headers, layer_patch, redact
from crosswire.engine.converting import Converting
from crosswire.engine.deadline import Deadline
from crosswire.engine.failover import RETRYABLE, Failover, answer_headers
from crosswire.engine.passthrough import Passthrough
from crosswire.engine.planner import Candidate, Planner
from crosswire.engine.record import META, Record
from crosswire.engine.relay import Job
from crosswire.protocols.base import ClientCall, ProtocolName

if TYPE_CHECKING:
    from crosswire.engine.runtime import Runtime

Handler = Passthrough | Converting


class Flight:
    def __init__(
        self, runtime: Runtime, planner: Planner, first: Candidate, record: Record
    ) -> None:
        self.runtime = runtime
        self.planner = planner
        self.record = record
        self.call: ClientCall = planner.call
        self.client_protocol: ProtocolName = planner.call.protocol
        self.keep_copies = runtime.keep_copies
        self.copy_limit = runtime.cfg.file.limits.store_stream_bytes
        self.job: Job | None = None
        self.deadline: Deadline | None = None
        self._failover: Failover | None = None
        self._failed_over = False
        self.candidate = first
        self.handler: Handler = self._handler_for(first)
        self._use(first)

    # ---- request ------------------------------------------------------------------------

    def send(self, flow: http.HTTPFlow) -> None:
        """Point the flow at its first candidate — or, for a stream that may fail over, at the
        relay (which is given the attempts; the body crosses loopback once, to the upstream)."""
        apply(flow, self.candidate)
        mode = self.runtime.cfg.file.failover
        relay = self.runtime.relay
        if (
            self.candidate.stream
            and relay.running
            and (mode == "always" or (mode == "relay" and self.planner.failover_possible))
        ):
            self.job = Job(failover=self.failover(), first=self.candidate)
            self.failover().tried = 0
            flow.request.url = relay.submit(self.job)
            flow.request.content = b""
        else:
            connect, read = self.candidate.backend.config.timeouts()
            self.deadline = Deadline(flow, connect, read)
        layer_patch.expect_answer(flow)
        self.publish(flow)

    def failover(self) -> Failover:
        if self._failover is None:
            rt = self.runtime
            self._failover = Failover(
                rt.client, self.planner, self.record, rt.keeper, rt.cfg.file.failover_attempts
            )
            self._failover.tried = 1  # the first candidate is mitmproxy's own attempt
        return self._failover

    # ---- response -----------------------------------------------------------------------

    def on_headers(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        assert resp is not None
        self.record.first_byte = time.time()
        if self.job is not None:
            self._relay_outcome(flow, self.job)
        redact.stored_request(flow, self.candidate.auth_header, self.candidate.key_name)
        deadline = self.deadline
        if resp.status_code >= 400 or not self.candidate.stream:
            if deadline is not None:
                deadline.headers(streamed=False)
            return
        callable_ = self.handler.stream(flow)
        if callable_ is not None:
            resp.stream = callable_ if deadline is None else deadline.watch(callable_)
        elif deadline is not None:
            deadline.headers(streamed=False)

    async def on_response(self, flow: http.HTTPFlow) -> None:
        if self.deadline is not None:
            self.deadline.stop()
        resp = flow.response
        assert resp is not None
        streamed = bool(resp.stream)
        if (
            not streamed
            and self.job is None
            and not self._failed_over
            and resp.status_code in RETRYABLE
            and self._may_fail_over()
        ):
            await self._fail_over_whole(flow, resp.status_code, _lower(resp), resp.content or b"")
            resp = flow.response
            assert resp is not None
        redact.stored_request(flow, self.candidate.auth_header, self.candidate.key_name)
        status = resp.status_code
        error_body: bytes | None = None
        usage: ir.Usage | None = None
        last = self.job.failover.last if self.job is not None else None
        if self.record.all_failed and last is not None and last.status is None:
            self._unreachable(flow, last.reason)
            status = 502
        if self.record.error is None and status >= 400:
            error_body = self.handler.error(flow)
            flow.marked = ":x:"
        elif streamed:
            usage = self.handler.finish_stream(flow)
        elif status < 400:
            usage = self.handler.whole(flow)
        if self.record.failures and not self.record.all_failed:
            flow.marked = ":arrows_counterclockwise:"
        if self.record.all_failed:
            flow.marked = ":x:"
        await self.runtime.keeper.release(
            self.candidate.lease,
            status,
            self.record.route,
            headers=_lower(resp),
            body=error_body,
            usage=usage,
        )
        self.candidate.lease = None
        self.record.status = resp.status_code
        self.record.usage = usage
        self.finish(flow)

    async def on_error(self, flow: http.HTTPFlow) -> None:
        """The upstream connection failed (refused, reset, TLS, timeout, cut mid-body)."""
        if self.job is not None:
            self.runtime.relay.forget(self.job)
            if self.job.served is not None and self.job.served is not self.candidate:
                self._switch(flow, self.job.served)  # its lease is the one to give back
        reason = flow.error.msg if flow.error else "connection failed"
        if self.deadline is not None:
            self.deadline.stop()
            reason = self.deadline.expired or reason
        resp = flow.response
        started = resp is not None and bool(resp.stream)
        usage: ir.Usage | None = None
        if _app_left(flow):  # not the upstream's fault: the key back, nothing learnt
            usage = self.handler.finish_stream(flow) if started else None
            self.record.cut_short = started
            await self._release(0, usage)
            self.record.usage = usage
            self.finish(flow, failed="the app hung up")
            return
        if started:
            usage = self.handler.finish_stream(flow) if resp is not None else None
            err = ir.Error.of("api_error", f"crosswire: the upstream failed mid-stream: {reason}")
            layer_patch.answer(flow, layer_patch.Answer(tail=self.handler.closing(err)))
            self.record.cut_short = True
            self.record.error = err
            await self._release(None, usage)
        elif self.job is None and not self.candidate.stream and self._may_fail_over():
            await self._release(None, None, failed=reason)
            await self._fail_over_whole(flow, None, {}, b"", already_released=True)
            await self.on_response(flow)
            assert flow.response is not None
            layer_patch.answer(flow, layer_patch.Answer(response=flow.response))
            return
        else:
            await self._release(None, None, failed=reason)
            self.record.all_failed = True
            self._unreachable(flow, reason)
            layer_patch.answer(flow, layer_patch.Answer(response=flow.response))
        self.record.status = flow.response.status_code if flow.response else None
        self.record.usage = usage
        flow.marked = ":x:"
        self.finish(flow, failed=reason)

    def finish(self, flow: http.HTTPFlow, failed: str | None = None) -> None:
        self.record.ended = time.time()
        self.publish(flow)
        if failed:
            flow.comment += f" · failed: {failed}"

    def publish(self, flow: http.HTTPFlow) -> None:
        flow.comment = self.record.comment()
        flow.metadata[META] = self.record.to_dict()

    # ---- failover -----------------------------------------------------------------------

    def _may_fail_over(self) -> bool:
        return self.runtime.cfg.file.failover != "off" and self.planner.failover_possible

    async def _fail_over_whole(
        self,
        flow: http.HTTPFlow,
        status: int | None,
        headers: dict[str, str],
        body: bytes,
        *,
        already_released: bool = False,
    ) -> None:
        """The first attempt failed before anything reached the app: try the next candidates in
        process and put the first good answer (or the last failure) in place of its answer."""
        self._failed_over = True
        failover = self.failover()
        if not already_released:
            await failover.failed(self.candidate, status, headers, body)
        got = await failover.answer(stream=False)
        if got is not None:
            candidate, upstream = got
            self._switch(flow, candidate)
            flow.response = http.Response.make(
                upstream.status_code, upstream.content, _headers(answer_headers(upstream))
            )
            return
        self.record.all_failed = True
        last = failover.last
        if last is None or last.status is None:
            self._unreachable(flow, last.reason if last else "no backend could take the request")
            return
        self._switch(flow, last.candidate)
        flow.response = http.Response.make(
            last.status,
            last.body,
            _headers([(k, v) for k, v in last.headers.items() if k not in _HOP_BY_HOP]),
        )

    def _relay_outcome(self, flow: http.HTTPFlow, job: Job) -> None:
        """The relay answered: serve with the attempt it chose, or report that all failed."""
        if job.served is not None:
            self._switch(flow, job.served)
            return
        self.record.all_failed = True
        last = job.failover.last
        if last is not None:
            self._switch(flow, last.candidate)

    def _switch(self, flow: http.HTTPFlow, candidate: Candidate) -> None:
        """Serve with ``candidate`` from now on (its codec, its key); the stored request shows
        what was sent to it."""
        if candidate is not self.candidate:
            self.candidate = candidate
            self.handler = self._handler_for(candidate)
            self._use(candidate)
        apply(flow, candidate)

    def _use(self, candidate: Candidate) -> None:
        record = self.record
        record.served_by(
            candidate.backend.name, candidate.key_name, candidate.protocol, candidate.mode
        )
        record.report = candidate.report
        record.model_out = candidate.model_out
        record.stream = candidate.stream

    def _handler_for(self, candidate: Candidate) -> Handler:
        if candidate.exchange is None:
            return Passthrough(self)
        return Converting(self, candidate.exchange)

    def _unreachable(self, flow: http.HTTPFlow, reason: str) -> None:
        err = ir.Error(
            kind="unavailable", status=502, message=f"crosswire: upstream unreachable: {reason}"
        )
        self.record.error = err
        flow.response = answer.error_response(self.client_protocol, self.call, err)

    async def _release(self, status: int | None, usage: ir.Usage | None, failed: str = "") -> None:
        candidate = self.candidate
        if failed:
            # A connect that timed out may be our own busy loop: the key is not cooled.
            local = self.deadline is not None and self.deadline.connect_expired
            await self.failover().failed(candidate, None, {}, b"", failed, local=local)
            return
        await self.runtime.keeper.release(candidate.lease, status, self.record.route, usage=usage)
        candidate.lease = None


def _app_left(flow: http.HTTPFlow) -> bool:
    """Whether the error is the app's hanging up (mitmproxy: "Client disconnected.")."""
    msg = flow.error.msg.lower() if flow.error else ""
    return "client disconnected" in msg or not (flow.client_conn.state & ConnectionState.CAN_READ)


_HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


def apply(flow: http.HTTPFlow, candidate: Candidate) -> None:
    """Point the flow at the candidate's upstream with its headers and body (built in one pass:
    the planner already dropped framing headers and the app's credentials). Host and authority
    follow the target, as the ``url`` setter would do (docs/mitmproxy.md §1)."""
    req = flow.request
    data = req.data
    scheme, host, port, path = url.parse(candidate.url)
    data.method = candidate.method.encode()
    data.scheme, data.host, data.port, data.path = scheme, host.decode("idna"), port, path
    hostport = url.hostport(scheme, host, port)
    if data.authority:
        data.authority = hostport
    body = candidate.body
    data.headers = headers.build(
        [("host", hostport.decode()), *candidate.headers, ("content-length", str(len(body)))]
    )
    data.content = body


def _headers(pairs: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def _lower(resp: http.Response) -> dict[str, str]:
    return headers.lowered(resp.headers)
