"""From a mitmproxy flow to the right kind of flight, and each later hook to that flight.

``request``: intake decides (not ours / refused / generic / upgrade / routed); a routed request
gets a planner and its first candidate — or a local answer, for a side endpoint of another
protocol — and becomes a ``Flight``. The later hooks find the flight by flow id. Nothing here
converts, leases or retries itself: those jobs live in the modules the flights call.
"""

from __future__ import annotations

import logging
from typing import Protocol

from mitmproxy import http

from crosswire import ir
from crosswire.engine import answer, headers, local, redact, websocket
from crosswire.engine.flight import Flight
from crosswire.engine.generic import GenericFlight
from crosswire.engine.intake import Generic, Incoming, Refused, Routed, Upgrade
from crosswire.engine.planner import Planner
from crosswire.engine.record import META, ORIGINAL_REQUEST, ORIGINAL_URL, Record
from crosswire.engine.runtime import Runtime

log = logging.getLogger("crosswire")


class Flying(Protocol):
    record: Record

    def on_headers(self, flow: http.HTTPFlow) -> None: ...

    async def on_response(self, flow: http.HTTPFlow) -> None: ...

    async def on_error(self, flow: http.HTTPFlow) -> None: ...


def incoming(flow: http.HTTPFlow) -> Incoming:
    """The request as intake sees it (plain values, lower-case header names)."""
    req = flow.request
    data = req.data
    fields = data.headers.fields
    text = headers.text_map(fields)
    try:
        body: bytes | None = headers.body(req, "content-encoding" in text)
    except ValueError:  # a content-encoding that does not decode
        body = None
    path, query, _ = req.path.partition("?")
    return Incoming(
        method=req.method,
        host=headers.target_host(req, text.get("host", "")),
        path=path,
        query={k: v for k, v in req.query.items()} if query else {},
        headers=text,
        fields=fields,
        body=body,
    )


class Engine:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.flights: dict[str, Flying] = {}

    async def request(self, flow: http.HTTPFlow) -> None:
        rt = self.runtime
        intake = rt.take_intake(flow.id)  # client access may have classified it already
        if intake is None:
            intake = rt.classify(incoming(flow))
        match intake:
            case Refused():
                answer.refuse(flow, intake.protocol, intake.call, intake.error, intake.label)
            case Upgrade():
                websocket.upgrade(flow, intake)
            case Generic():
                record = Record(
                    mode="passthrough",
                    client_protocol="http",
                    backend_protocol="http",
                    route=intake.route.label,
                )
                generic = GenericFlight(rt, record)
                self.flights[flow.id] = generic  # first: fail_closed then finds its lease
                await generic.send(flow, intake)
            case Routed():
                await self._routed(flow, intake)

    async def _routed(self, flow: http.HTTPFlow, routed: Routed) -> None:
        rt = self.runtime
        call = routed.call
        route = routed.route
        planner = Planner(rt.pool, routed)
        try:
            first = await planner.next()
        except ir.ClientRequestError as exc:
            err = exc.to_error()
            answer.refuse(
                flow, call.protocol, call, err, f"{call.protocol} (refused) · {route.label} · {exc}"
            )
            return
        if first is None:
            reason = (
                "; ".join([r.reason for r in planner.refusals] + planner.skipped)
                or "no usable backend"
            )
            err = ir.Error(
                kind="rate_limit",
                message=f"crosswire: no key available right now ({reason})",
                status=429,
                # Busy keys (max_concurrency) free a slot when any request in flight ends:
                # no time is known, so "soon" (1 s) rather than nothing or a made-up wait.
                retry_after=min(
                    (r.retry_after for r in planner.refusals if r.retry_after is not None),
                    default=1.0,
                ),
            )
            answer.refuse(
                flow,
                call.protocol,
                call,
                err,
                f"{call.protocol} (refused) · {route.label} · {reason}",
            )
            return
        record = Record(
            mode=first.mode,
            client_protocol=call.protocol,
            backend_protocol=first.protocol,
            route=route.label,
            client=routed.client,
            model_in=planner.model,
            attempts=[first.label],
        )
        target = headers.app_target(flow.request, routed.host)
        if first.mode == "convert":
            flow.metadata[ORIGINAL_REQUEST] = routed.body[: rt.cfg.file.limits.store_stream_bytes]
            if call.endpoint != "generate":
                flow.metadata[ORIGINAL_URL] = redact.request_line(target)
                local.respond(flow, planner, rt.router.models(), route.label)
                rt.keeper.release(first.lease, 0, route.label)
                record.mode = "local"
                flow.metadata[META] = record.to_dict()
                return
        flight = Flight(rt, planner, first, record, target)
        flight.send(flow)
        self.flights[flow.id] = flight

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        flight = self.flights.get(flow.id)
        if flight is not None:
            flight.on_headers(flow)

    async def response(self, flow: http.HTTPFlow) -> None:
        flight = self.flights.pop(flow.id, None)
        if flight is not None:
            await flight.on_response(flow)

    async def retry(self, flow: http.HTTPFlow) -> None:
        flight = self.flights.get(flow.id)
        if isinstance(flight, Flight):
            await flight.retry(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        flight = self.flights.pop(flow.id, None)
        if flight is not None:
            await flight.on_error(flow)

    def fail_closed(self, flow: http.HTTPFlow) -> None:
        """After an internal error: answer the app (in its protocol when known) and send
        nothing anywhere — above all not to the original host."""
        flight = self.flights.pop(flow.id, None)
        self.runtime.take_intake(flow.id)
        protocol = answer.protocol_of(flow.request)
        err = ir.Error.of(
            "api_error", "crosswire: internal error while routing this request (see the proxy log)"
        )
        answer.refuse(flow, protocol, None, err, f"{protocol} (crosswire internal error)")
        flow.marked = ":x:"
        if isinstance(flight, Flight):
            lease, flight.candidate.lease = flight.candidate.lease, None
            self.runtime.keeper.release(lease, 0, flight.record.route)
        elif isinstance(flight, GenericFlight):
            lease, flight.lease = flight.lease, None
            self.runtime.keeper.release(lease, 0, flight.record.route)
