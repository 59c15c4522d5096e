"""What a handler (``Passthrough``, ``Converting``) knows of the flight it serves.

A handler is made for one candidate and lives inside its flight. It holds these values rather
than the flight itself: a flight pointing at its handler and the handler back at the flight would
be a reference cycle, and then every object of the exchange — planner, candidates, their header
lists, the record — would be freed by the garbage collector instead of the moment the engine
lets go of the flight. On the proxy's only thread, that is more collections, each longer
(measured: about 40 more tracked objects left to the collector per request).
"""

from __future__ import annotations

from dataclasses import dataclass

from crosswire.engine.planner import Candidate
from crosswire.engine.record import Record
from crosswire.protocols.base import ClientCall, ProtocolName


@dataclass(frozen=True, slots=True)
class Serving:
    candidate: Candidate
    #: The flight's record (the same object, updated by the flight and the handler).
    record: Record
    call: ClientCall
    #: Keep bounded copies of streamed bodies for the content view, up to ``copy_limit`` bytes.
    keep_copies: bool
    copy_limit: int
    #: Seconds of upstream silence before a keep-alive goes to the app (0: none).
    keepalive: float

    @property
    def client_protocol(self) -> ProtocolName:
        return self.call.protocol
