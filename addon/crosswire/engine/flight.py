"""One routed exchange between mitmproxy's hooks: which candidate serves, failover, the lease.

A flight starts in the ``request`` hook with its first candidate (backend + leased key, the body
already converted when the backend speaks another protocol) and ends in ``response`` or
``error``. What to do with the serving candidate's answer is the job of its handler —
``Passthrough`` for the app's own protocol, ``Converting`` for another. When an attempt fails
before the app has seen a byte (a retryable status, or no connection), mitmproxy's own HTTP layer
asks the flight for another (``retry``, see ``layer_retry``): the failed key goes back to the
pool with its lesson, the flow is pointed at the next candidate — another key, or the next
backend of the route in its own protocol — and the handler follows the serving candidate.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from mitmproxy import http
from mitmproxy.connection import ConnectionState
from mitmproxy.net.http import url

from crosswire import ir
from crosswire.engine import answer, headers, layer_early, layer_patch, layer_retry, redact
from crosswire.engine.converting import Converting
from crosswire.engine.deadline import Deadline
from crosswire.engine.failover import Failover
from crosswire.engine.passthrough import Passthrough
from crosswire.engine.planner import Candidate, Planner
from crosswire.engine.record import META, ORIGINAL_URL, Record
from crosswire.engine.serving import Serving
from crosswire.protocols.base import ClientCall, ProtocolName

if TYPE_CHECKING:
    from crosswire.engine.runtime import Runtime

Handler = Passthrough | Converting


class Flight:
    def __init__(
        self,
        runtime: Runtime,
        planner: Planner,
        first: Candidate,
        record: Record,
        app_target: headers.AppTarget,
    ) -> None:
        self.runtime = runtime
        #: What the app asked for: the view's "original URL", made when a record is published
        #: (not on the request's way out).
        self.app_target = app_target
        self.planner = planner
        self.record = record
        self.call: ClientCall = planner.call
        self.client_protocol: ProtocolName = planner.call.protocol
        self.keep_copies = runtime.keep_copies
        self.copy_limit = runtime.cfg.file.limits.store_stream_bytes
        self._failover: Failover | None = None
        self.candidate = first
        self.handler: Handler = self._handler_for(first)
        self.deadline: Deadline | None = None
        #: The candidate whose credentials are already out of the stored request.
        self._redacted: Candidate | None = None
        #: The request's header fields as ``apply`` set them.
        self._sent: headers.Fields = ()
        #: A whole answer once made: (the upstream's status, its error body if it failed).
        self._whole: tuple[int, bytes | None] | None = None
        self._use(first)

    @property
    def failover(self) -> Failover:
        """The account of failed attempts — made at the first failure (most flights have none)."""
        if self._failover is None:
            rt = self.runtime
            self._failover = Failover(
                self.planner, self.record, rt.keeper, rt.cfg.file.failover_attempts
            )
        return self._failover

    # ---- request ------------------------------------------------------------------------

    def took_off(self, flow: http.HTTPFlow, sent: headers.Fields) -> None:
        """The first candidate's request is on its way (``send`` made it, with these fields):
        its timeouts run from now."""
        self._sent = sent
        self._arm(flow)
        if self.keep_copies:  # a flow list is watching: show the flight while it is in the air
            self.publish(flow)

    async def retry(self, flow: http.HTTPFlow) -> None:
        """An attempt failed before the app saw a byte: learn from it, and point the flow at the
        next candidate if there is one (``layer_retry.again``); else the failure is the answer."""
        resp = flow.response
        expired, local = self._disarm()
        if resp is not None:
            status: int | None = resp.status_code
            lesson = (headers.lowered(resp.headers), resp.raw_content or b"", "")
        else:
            status = None
            lesson = ({}, b"", expired or (flow.error.msg if flow.error else "connection failed"))
        await self.failover.failed(self.candidate, status, *lesson, local=local)
        if status is None:  # a host-level failure: the next backend, not the next key
            self.planner.skip_backend(self.candidate.backend.name)
        candidate = await self.failover.next()
        if candidate is None:
            self.record.all_failed = True
            return
        self.record.attempts.append(candidate.label)
        self._switch(flow, candidate)
        self._arm(flow)
        layer_retry.again(flow)

    # ---- response -----------------------------------------------------------------------

    def on_headers(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        assert resp is not None
        self.record.first_byte = time.time()
        self._redact(flow)
        deadline = self.deadline
        callable_ = None
        if resp.status_code < 400 and self.candidate.stream:
            callable_ = self.handler.stream(flow)
        if callable_ is not None:
            resp.stream = callable_ if deadline is None else deadline.watch(callable_)
            return
        if deadline is not None:
            deadline.headers(streamed=False)
        layer_early.early(flow, self.prepare_whole)

    def prepare_whole(self, flow: http.HTTPFlow) -> None:
        """Make the app's answer from a whole upstream answer (checked, converted, an error in
        the app's shape): called with the whole body, before the ``response`` hooks
        (``layer_early``), or from ``on_response`` when the layer did not."""
        resp = flow.response
        assert resp is not None
        self._answered(flow)
        status = resp.status_code  # the upstream's: the pool learns from it, not from ours
        if status >= 400:
            self._whole = (status, self.handler.error(flow))
            flow.marked = ":x:"
        else:
            self.handler.whole(flow)
            self._whole = (status, None)

    async def on_response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        assert resp is not None
        error_body: bytes | None = None
        if resp.stream:  # only answers below 400 are streamed (``on_headers``)
            self._answered(flow)
            status = resp.status_code
            usage = self.handler.finish_stream(flow)
        else:
            if self._whole is None:
                self.prepare_whole(flow)
            assert self._whole is not None
            status, error_body = self._whole
            usage = self.handler.whole_usage(flow) if error_body is None else None
        if self.record.failures and not self.record.all_failed:
            flow.marked = ":arrows_counterclockwise:"
        self.runtime.keeper.release(
            self.candidate.lease,
            status,
            self.record.route,
            headers=headers.lowered(resp.headers),
            body=error_body,
            usage=usage,
        )
        self.candidate.lease = None
        self.record.status = resp.status_code
        self.record.usage = usage
        self.finish(flow)

    async def on_error(self, flow: http.HTTPFlow) -> None:
        """The upstream connection failed (refused, reset, TLS, timeout, cut mid-body): the app
        gets its protocol's answer (``layer_patch`` sends it)."""
        layer_retry.done_retrying(flow)
        expired, local = self._disarm()
        reason = expired or (flow.error.msg if flow.error else "connection failed")
        resp = flow.response
        usage: ir.Usage | None = None
        started = resp is not None and bool(resp.stream)
        if _app_left(flow):  # not the upstream's fault: the key back at once, not cooled
            usage = self.handler.finish_stream(flow) if started else None
            self.record.cut_short = started
            # A started stream was served (it counts, with the tokens so far); before the
            # answer, nothing was learnt (status 0).
            status = resp.status_code if started and resp is not None else 0
            self.runtime.keeper.release(
                self.candidate.lease, status, self.record.route, usage=usage
            )
            self.candidate.lease = None
            self.record.usage = usage
            self.finish(flow, failed="the app hung up")
            return
        if started:
            usage = self.handler.finish_stream(flow)
            err = ir.Error.of("api_error", f"crosswire: the upstream failed mid-stream: {reason}")
            layer_patch.answer(flow, layer_patch.Answer(tail=self.handler.closing(err)))
            self.record.cut_short = True
            self.record.error = err
            self.runtime.keeper.release(self.candidate.lease, None, self.record.route, usage=usage)
            self.candidate.lease = None
        else:
            if not self.record.all_failed:  # a retry would have recorded it already
                await self.failover.failed(self.candidate, None, {}, b"", reason, local=local)
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
        if ORIGINAL_URL not in flow.metadata:
            flow.metadata[ORIGINAL_URL] = redact.request_line(self.app_target)

    def _answered(self, flow: http.HTTPFlow) -> None:
        """The serving attempt's answer is all in: no more retries or timeouts for it, and its
        key out of the stored request."""
        layer_retry.done_retrying(flow)
        self._disarm()
        self._redact(flow)

    def _redact(self, flow: http.HTTPFlow) -> None:
        """The serving candidate's key out of the stored request, once."""
        if self._redacted is not self.candidate:
            c = self.candidate
            redact.stored_request(flow, c.auth_header, c.key_name, self._sent, c.secrets)
            self._redacted = self.candidate

    # ---- candidates ---------------------------------------------------------------------

    def _arm(self, flow: http.HTTPFlow) -> None:
        """Start the serving attempt's connect and read timeouts (mitmproxy has none)."""
        self._disarm()
        connect, read = self.candidate.backend.config.timeouts()
        self.deadline = self.runtime.deadlines.start(flow, connect, read)

    def _disarm(self) -> tuple[str | None, bool]:
        """Stop the timeouts: (which one expired, if one did; whether it was the connect — which
        may be this busy proxy's own lag, so the key is not cooled for it)."""
        deadline, self.deadline = self.deadline, None
        if deadline is None:
            return None, False
        deadline.stop()
        return deadline.expired, deadline.connect_expired

    def _switch(self, flow: http.HTTPFlow, candidate: Candidate) -> None:
        """Serve with ``candidate`` from now on (its codec, its key); the stored request shows
        what was sent to it."""
        if candidate is not self.candidate:
            self.candidate = candidate
            self.handler = self._handler_for(candidate)
            self._use(candidate)
        self._sent = apply(flow, candidate)

    def _use(self, candidate: Candidate) -> None:
        record = self.record
        record.served_by(
            candidate.backend.name, candidate.key_name, candidate.protocol, candidate.mode
        )
        record.report = candidate.report
        record.model_out = candidate.model_out
        record.stream = candidate.stream

    def _handler_for(self, candidate: Candidate) -> Handler:
        serving = Serving(
            candidate,
            self.record,
            self.call,
            self.keep_copies,
            self.copy_limit,
            self.runtime.cfg.file.keepalive,
        )
        if candidate.exchange is None:
            return Passthrough(serving)
        return Converting(serving, candidate.exchange)

    def _unreachable(self, flow: http.HTTPFlow, reason: str) -> None:
        err = ir.Error(
            kind="unavailable", status=502, message=f"crosswire: upstream unreachable: {reason}"
        )
        self.record.error = err
        flow.response = answer.error_response(self.client_protocol, self.call, err)


def send(flow: http.HTTPFlow, candidate: Candidate, may_fail_over: bool) -> headers.Fields:
    """Point the flow at its first candidate — mitmproxy sends it when the ``request`` hooks are
    done — and have mitmproxy's HTTP layer hand its failures to the engine (``layer_patch``,
    and ``layer_retry`` when another attempt is possible). Returns the header fields set."""
    fields = apply(flow, candidate)
    layer_patch.expect_answer(flow)
    if may_fail_over:
        layer_retry.may_retry(flow)
    return fields


def apply(flow: http.HTTPFlow, candidate: Candidate) -> headers.Fields:
    """Point the flow at the candidate's upstream with its headers and body (built in one pass:
    the planner already dropped framing headers and the app's credentials). Host and authority
    follow the target, as the ``url`` setter would do (docs/mitmproxy.md §1). Returns the
    header fields set."""
    data = flow.request.data
    scheme, host, port, hostport, path = _target(candidate.url)
    data.method = candidate.method.encode()
    data.scheme, data.host, data.port = scheme, host, port
    data.path = path
    if data.authority:
        data.authority = hostport
    body = candidate.body
    fields = ((b"host", hostport), *candidate.headers, (b"content-length", b"%d" % len(body)))
    data.headers = headers.from_fields(fields)
    data.content = body
    return fields


@functools.lru_cache(maxsize=1024)
def _target(upstream_url: str) -> tuple[bytes, str, int, bytes, bytes]:
    """An upstream URL as the request's fields: (scheme, host, port, Host header, path) —
    parsed once per URL, not per request (mitmproxy's URL parsing does an IDNA round trip)."""
    scheme, rest = upstream_url.split("://", 1)
    authority, slash, path = rest.partition("/")
    parsed_scheme, host, port, _ = url.parse(f"{scheme}://{authority}/")
    return (
        parsed_scheme,
        host.decode("idna"),
        port,
        url.hostport(parsed_scheme, host, port),
        (slash + path).encode("utf-8", "surrogateescape") or b"/",
    )


def _app_left(flow: http.HTTPFlow) -> bool:
    """Whether the error is the app's hanging up (mitmproxy: "Client disconnected.")."""
    msg = flow.error.msg.lower() if flow.error else ""
    return "client disconnected" in msg or not (flow.client_conn.state & ConnectionState.CAN_READ)
