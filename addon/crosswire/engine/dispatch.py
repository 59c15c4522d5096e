"""From a mitmproxy flow to the right kind of flight, and each later hook to that flight.

``request``: intake decides (not ours / refused / generic / upgrade / routed); a routed request
gets a planner and its first candidate — or a local answer, for a side endpoint of another
protocol — and becomes a ``Flight``. ``request_now`` is the same work from inside mitmproxy's
HTTP layer (``layer_hooks``), for requests that need nothing awaited; both share every step
after the first lease. The later hooks find the flight by flow id. Nothing here converts,
leases or retries itself: those jobs live in the modules the flights call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from mitmproxy import http

from crosswire import ir
from crosswire.engine import answer, headers, local, redact, websocket
from crosswire.engine.flight import Flight, send
from crosswire.engine.generic import GenericFlight
from crosswire.engine.intake import (
    Generic,
    Incoming,
    Intake,
    NotOurs,
    Refused,
    Routed,
    Upgrade,
)
from crosswire.engine.planner import Candidate, Planner
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


#: A request already pointed at its first candidate, whose flight is not made yet.
Boarding = tuple[http.HTTPFlow, Routed, Planner, Candidate, headers.AppTarget, headers.Fields]


def _record(routed: Routed, planner: Planner, first: Candidate) -> Record:
    return Record(
        mode=first.mode,
        client_protocol=routed.call.protocol,
        backend_protocol=first.protocol,
        route=routed.route.label,
        client=routed.client,
        model_in=planner.model,
        attempts=[first.label],
    )


class Engine:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.flights: dict[str, Flying] = {}
        #: Requests on their way whose flight is made just after mitmproxy has sent them
        #: (``_board``), or sooner if a later hook of the flow comes first.
        self._boarding: dict[str, Boarding] = {}

    async def request(self, flow: http.HTTPFlow) -> None:
        rt = self.runtime
        intake = self._intake(flow)
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

    def request_now(self, flow: http.HTTPFlow) -> bool:
        """``request``'s work without awaiting anything, from inside mitmproxy's HTTP layer
        (``layer_hooks``): True when the flow is routed or answered. False — nothing done —
        when something must be awaited (a lease from the shared store or after a wait, a
        generic endpoint, an upgrade): the ``request`` hook then goes on from the
        classification kept here."""
        rt = self.runtime
        intake = self._intake(flow)
        if isinstance(intake, Refused):
            answer.refuse(flow, intake.protocol, intake.call, intake.error, intake.label)
            return True
        if isinstance(intake, Routed):
            planner = Planner(rt.pool, intake)
            try:
                first = planner.first_now()
            except ir.ClientRequestError as exc:
                _refuse_bad(flow, intake, exc)
                return True
            if first is not None:
                self._take_off(flow, intake, planner, first)
                return True
        if not isinstance(intake, NotOurs):
            rt.keep_intake(flow.id, intake)
        return False

    def _intake(self, flow: http.HTTPFlow) -> Intake:
        """The flow's classification: kept by client access or by ``request_now`` (so a request
        is read and classified once), else made now."""
        rt = self.runtime
        intake = rt.take_intake(flow.id)
        return rt.classify(incoming(flow)) if intake is None else intake

    async def _routed(self, flow: http.HTTPFlow, routed: Routed) -> None:
        planner = Planner(self.runtime.pool, routed)
        try:
            first = await planner.next()
        except ir.ClientRequestError as exc:
            _refuse_bad(flow, routed, exc)
            return
        if first is None:
            _refuse_no_key(flow, routed, planner)
            return
        self._take_off(flow, routed, planner, first)

    def _take_off(
        self, flow: http.HTTPFlow, routed: Routed, planner: Planner, first: Candidate
    ) -> None:
        """Point the flow at its first candidate (or answer a side endpoint locally)."""
        rt = self.runtime
        call = routed.call
        route = routed.route
        target = headers.app_target(flow.request, routed.host)
        if first.mode == "convert":
            flow.metadata[ORIGINAL_REQUEST] = routed.body[: rt.cfg.file.limits.store_stream_bytes]
            if call.endpoint != "generate":
                flow.metadata[ORIGINAL_URL] = redact.request_line(target)
                local.respond(flow, planner, rt.router.models(), route.label)
                rt.keeper.release(first.lease, 0, route.label)
                record = _record(routed, planner, first)
                record.mode = "local"
                flow.metadata[META] = record.to_dict()
                return
        may_fail_over = rt.cfg.file.failover != "off" and planner.failover_possible
        sent = send(flow, first, may_fail_over)
        # The flight only follows the answer: made once mitmproxy has sent the request (the
        # next turn of the event loop), its cost is not on the request's way out.
        self._boarding[flow.id] = (flow, routed, planner, first, target, sent)
        asyncio.get_running_loop().call_soon(self._board, flow.id)

    def _board(self, flow_id: str) -> Flying | None:
        """The flight of a request on its way: its record, its timeouts, the later hooks' way to
        it. Runs after the ``request`` hook — before any answer can arrive — or from the first
        later hook of the flow, whichever comes first."""
        boarding = self._boarding.pop(flow_id, None)
        if boarding is None:  # made already (or the flow failed closed)
            return None
        flow, routed, planner, first, target, sent = boarding
        try:
            flight = Flight(self.runtime, planner, first, _record(routed, planner, first), target)
            flight.took_off(flow, sent)
        except Exception:  # a crosswire bug: the answer passes as it is, the key is not kept
            log.exception("crosswire: following %s failed", flow.request.pretty_url)
            redact.stored_request(flow, first.auth_header, first.key_name, sent, first.secrets)
            self._give_back(first, routed.route.label)
            return None
        self.flights[flow_id] = flight
        return flight

    def _flight(self, flow_id: str) -> Flying | None:
        flight = self.flights.get(flow_id)
        if flight is None and self._boarding:
            flight = self._board(flow_id)
        return flight

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        flight = self._flight(flow.id)
        if flight is not None:
            flight.on_headers(flow)

    async def response(self, flow: http.HTTPFlow) -> None:
        flight = self._flight(flow.id)
        if flight is not None:
            del self.flights[flow.id]
            await flight.on_response(flow)

    async def retry(self, flow: http.HTTPFlow) -> None:
        flight = self._flight(flow.id)
        if isinstance(flight, Flight):
            await flight.retry(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        flight = self._flight(flow.id)
        if flight is not None:
            del self.flights[flow.id]
            await flight.on_error(flow)

    def fail_closed(self, flow: http.HTTPFlow) -> None:
        """After an internal error: answer the app (in its protocol when known) and send
        nothing anywhere — above all not to the original host."""
        flight = self.flights.pop(flow.id, None)
        boarding = self._boarding.pop(flow.id, None)
        if boarding is not None:  # pointed at its upstream already: the key goes back
            self._give_back(boarding[3], boarding[1].route.label)
        self.runtime.take_intake(flow.id)
        protocol = answer.protocol_of(flow.request)
        err = ir.Error.of(
            "api_error", "crosswire: internal error while routing this request (see the proxy log)"
        )
        answer.refuse(flow, protocol, None, err, f"{protocol} (crosswire internal error)")
        flow.marked = ":x:"
        if isinstance(flight, Flight):
            self._give_back(flight.candidate, flight.record.route)
        elif isinstance(flight, GenericFlight):
            self._give_back(flight, flight.record.route)

    def _give_back(self, holder: Candidate | GenericFlight, route: str) -> None:
        """A lease that served nothing goes back to the pool (nothing learnt), once."""
        lease, holder.lease = holder.lease, None
        self.runtime.keeper.release(lease, 0, route)


def _refuse_bad(flow: http.HTTPFlow, routed: Routed, exc: ir.ClientRequestError) -> None:
    """The app's request cannot be expressed for the route's first backend."""
    call = routed.call
    label = f"{call.protocol} (refused) · {routed.route.label} · {exc}"
    answer.refuse(flow, call.protocol, call, exc.to_error(), label)


def _refuse_no_key(flow: http.HTTPFlow, routed: Routed, planner: Planner) -> None:
    call = routed.call
    reason = (
        "; ".join([r.reason for r in planner.refusals] + planner.skipped) or "no usable backend"
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
    label = f"{call.protocol} (refused) · {routed.route.label} · {reason}"
    answer.refuse(flow, call.protocol, call, err, label)
