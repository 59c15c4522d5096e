"""A routed request is routed inside mitmproxy's HTTP layer, without the ``request`` hook round,
when no other addon would act on it.

mitmproxy answers the end of every request with the ``request`` hook: the layer yields it, the
proxy server starts a task for it, every addon of the chain (its own forty and any script) is
asked for a ``request`` method, then again for ``update``, and only then does the layer resume
and send the request. Measured with the openai SDK through one 2-core machine, that round costs
about 0.2 ms of a 3 ms small request — more than everything crosswire does to route it.

So this wraps the step where the request is complete (``HttpStream.state_consume_request_body``)
and, when the layer yields the ``request`` hook for a flow, first asks the engine to route it at
once (``Engine.request_now``: classify, lease from the in-process pool, point the flow at its
upstream — or answer it in the app's protocol). When the engine has done so, the hook is
answered in process and the layer goes on exactly as after the hook: mitmproxy's own code then
sends the request, or the answer the engine set. When it cannot (a lease that must wait or
needs Redis, a WebSocket upgrade…), the hook runs as usual and the engine routes the flow there.

The catch is that other addons' ``request`` hooks do not run for a flow routed this way. The
addon only turns this on when it knows that every other ``request`` hook present would do
nothing (``quiet_hooks``): with mitmweb, a script of the user's, or an option such as
``map_remote`` set, every request takes the hook.
Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses a layer of another
shape, and every end-to-end test of a routed request fails loudly if the behaviour changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import http

log = logging.getLogger("crosswire")

RouteNow = Callable[[http.HTTPFlow], bool]

#: The engine's ``request_now`` while routing in the layer is on; None: every flow takes the hook.
_route_now: RouteNow | None = None
_installed = False


def enable(route_now: RouteNow | None) -> None:
    """Route in the layer with ``route_now`` (True: the flow is routed or answered), or not."""
    global _route_now
    _route_now = route_now if _installed else None


def install() -> bool:
    global _installed
    if _installed:
        return True
    from crosswire.engine import layer_patch

    found = layer_patch.http_layer(
        ("state_consume_request_body",), "every routed request takes the request hook"
    )
    if found is None:
        return False
    layer_http, _events, _hooks = found
    request_hook = _hooks.HttpRequestHook
    consume = layer_http.HttpStream.state_consume_request_body

    def state_consume_request_body(self: Any, event: Any) -> Generator[Any, Any, None]:
        steps = consume(self, event)
        if _route_now is None or not isinstance(event, _events.RequestEndOfMessage):
            yield from steps
            return
        # `yield from`, except that the request hook may be answered here instead of upstream.
        try:
            command = next(steps)
            while True:
                if type(command) is request_hook and _routed_now(command.flow):
                    command = steps.send(None)
                else:
                    command = steps.send((yield command))
        except StopIteration:
            return

    layer_http.HttpStream.state_consume_request_body = state_consume_request_body
    _installed = True
    return True


def _routed_now(flow: http.HTTPFlow) -> bool:
    route_now = _route_now
    if route_now is None or not flow.live or flow.response is not None or flow.error:
        return False
    return route_now(flow)
