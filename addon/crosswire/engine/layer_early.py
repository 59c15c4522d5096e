"""A routed whole answer goes to the app as soon as crosswire has made it, before the ``response``
hooks run.

mitmproxy sends a buffered answer only after every addon's ``response`` hook (its own forty
and crosswire's: the lease release — a Redis round trip with a shared pool —, the record, the
telemetry). A streamed answer does not wait for them: its bytes go out as they come and only the
end of the message follows the hooks. Measured with the openai SDK through one 2-core machine,
that ordering alone made a small whole answer about 10 % slower than the same answer streamed —
the whole gap between crosswire's same-protocol passthrough and bare mitmproxy.

crosswire cannot simply stream whole answers: it reads the body before the app sees anything
(an error object in a 200, JSON cut short, a body to convert, a key to scrub from an error), and
the status line depends on it. So this wraps the step where mitmproxy has the whole body
(``HttpStream.state_consume_response_body`` at the end of the message) for the flows the engine
registers with ``early``: the engine's ``prepare`` makes the final answer from the whole body
right there (synchronously: decode, check, convert — what the ``response`` hook did), the
answer's head and body go to the app at once, with ``content-length`` framing (so an HTTP/1 app
has its whole answer without waiting for the end of the message), and then the ``response``
hooks run as for a streamed answer — the engine's only does the accounting that is left.

Consequence: another addon's ``response`` hook can no longer change what the app receives for a
routed whole answer (as for any streamed answer); it still sees and may record it.
Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses a layer of another
shape, and every end-to-end test of a whole answer fails loudly if the behaviour changes.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import http

from crosswire.engine import headers

log = logging.getLogger("crosswire")

Prepare = Callable[[http.HTTPFlow], None]

_EARLY: weakref.WeakKeyDictionary[http.HTTPFlow, Prepare] = weakref.WeakKeyDictionary()
_installed = False
#: Statuses whose answers carry no body, and so no ``content-length`` either.
_NO_BODY = frozenset({204, 304})


def early(flow: http.HTTPFlow, prepare: Prepare) -> None:
    """Send this flow's whole answer as soon as ``prepare(flow)`` has made it (from the body
    mitmproxy collected), before the ``response`` hooks."""
    if _installed:
        _EARLY[flow] = prepare


def install() -> bool:
    global _installed
    if _installed:
        return True
    from crosswire.engine import layer_patch

    found = layer_patch.http_layer(
        ("state_consume_response_body", "send_response"), "whole answers wait for every hook"
    )
    if found is None:
        return False
    layer_http, _events, _hooks = found
    stream_cls, SendHttp = layer_http.HttpStream, layer_http.SendHttp
    consume = stream_cls.state_consume_response_body

    def state_consume_response_body(self: Any, event: Any) -> Generator[Any, Any, None]:
        flow = self.flow
        if not isinstance(event, _events.ResponseEndOfMessage) or flow not in _EARLY:
            yield from consume(self, event)
            return
        prepare = _EARLY.pop(flow)
        resp = flow.response
        resp.data.content = bytes(self.response_body_buf)
        self.response_body_buf.clear()
        try:
            prepare(flow)
        except Exception:  # the response hook makes the answer instead (and reports the bug)
            log.exception("crosswire: preparing a whole answer failed")
            yield from self.send_response()
            return
        resp = flow.response
        content = resp.raw_content or b""
        if not resp.trailers and resp.status_code not in _NO_BODY:
            # Framed by its length: the app has it all at the last byte, not at the end message.
            resp.headers.fields = headers.framed_by_length(resp.headers.fields, len(content))
        yield SendHttp(_events.ResponseHeaders(self.stream_id, resp, False), self.context.client)
        if content:
            yield SendHttp(_events.ResponseData(self.stream_id, content), self.context.client)
        yield from self.send_response(already_streamed=True)

    stream_cls.state_consume_response_body = state_consume_response_body
    _installed = True
    return True
