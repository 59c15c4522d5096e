"""A routed flow's ``request`` and ``responseheaders`` hooks are answered inside mitmproxy's HTTP
layer, without the hook round, when no other addon would act on them.

mitmproxy yields a hook to its proxy server at each step of an exchange: the server starts a
task for it (``handle_hook``), the addon manager asks every addon of the chain — its own forty
and any script's — for the hook's method and calls it, then does the same again for ``update``,
and only then is the layer resumed. Measured with the openai SDK through one 2-core machine, the
``request`` round costs about 0.2 ms of a 3 ms small request — more than everything crosswire
does to route it — and the ``responseheaders`` round sits the same way on the answer's path.

So this wraps the two steps that yield them (``HttpStream.state_consume_request_body`` at the end
of the request, ``state_wait_for_response_headers``) and forwards every command of mitmproxy's
own generator, except that for the hook it first asks crosswire to do its part at once:

* ``request``: the engine routes the flow (``Engine.request_now``: classify, lease from the
  in-process pool, point the flow at its upstream — or answer it in the app's protocol). When it
  has, the generator goes on as after the hook, and mitmproxy's own code sends the request or
  the answer. When it cannot (a lease that must wait or needs Redis, a generic endpoint, an
  upgrade), the hook runs as usual and the engine routes the flow there;
* ``responseheaders``: the engine's own hook is synchronous (the flight follows the answer's
  head), so it is simply called.

The catch is that other addons' hooks do not run for a flow answered this way, so the addon
turns each on only while every other such hook present would do nothing (``quiet_hooks``): with
mitmweb, a script of the user's, or an option such as ``map_remote`` set, the hooks run as
always.
Checked against mitmproxy 12.2 (``uv.lock`` pins it); ``install`` refuses a layer of another
shape, and every end-to-end test of a routed request fails loudly if the behaviour changes.
Background: docs/mitmproxy.md §18.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import http

log = logging.getLogger("crosswire")

#: crosswire's part of a hook, done at once: True when the hook round is not needed.
AnswerNow = Callable[[http.HTTPFlow], bool]

#: While on, per hook: crosswire's part of it. None: the hook round runs.
_request_now: AnswerNow | None = None
_headers_now: AnswerNow | None = None
_installed = False


def enable(request: AnswerNow | None, responseheaders: AnswerNow | None) -> None:
    """Answer each hook in the layer with its callable (None: not that hook)."""
    global _request_now, _headers_now
    _request_now = request if _installed else None
    _headers_now = responseheaders if _installed else None


def install() -> bool:
    global _installed
    if _installed:
        return True
    from crosswire.engine import layer_patch, layer_retry

    layer_retry.install()  # its wrapper of the response headers' step is wrapped by this one
    found = layer_patch.http_layer(
        ("state_consume_request_body", "state_wait_for_response_headers"),
        "every routed flow takes the request and responseheaders hooks",
    )
    if found is None:
        return False
    layer_http, _events, _hooks = found
    stream_cls = layer_http.HttpStream
    consume = stream_cls.state_consume_request_body
    wait_headers = stream_cls.state_wait_for_response_headers
    request_hook, headers_hook = _hooks.HttpRequestHook, _hooks.HttpResponseHeadersHook

    def state_consume_request_body(self: Any, event: Any) -> Generator[Any, Any, None]:
        steps = consume(self, event)
        if _request_now is None or not isinstance(event, _events.RequestEndOfMessage):
            yield from steps
        else:
            yield from _answering(steps, request_hook, _routed_now)

    def state_wait_for_response_headers(self: Any, event: Any) -> Generator[Any, Any, None]:
        steps = wait_headers(self, event)
        if _headers_now is None:
            yield from steps
        else:
            yield from _answering(steps, headers_hook, _headers_now)

    stream_cls.state_consume_request_body = state_consume_request_body  # type: ignore[method-assign]
    stream_cls.state_wait_for_response_headers = state_wait_for_response_headers  # type: ignore[method-assign]
    _installed = True
    return True


def _answering(
    steps: Generator[Any, Any, None], hook: type[Any], answer_now: AnswerNow
) -> Generator[Any, Any, None]:
    """``yield from steps``, except that ``hook`` is answered here when ``answer_now`` says so."""
    try:
        command = next(steps)
        while True:
            if type(command) is hook and answer_now(command.flow):
                command = steps.send(None)
            else:
                command = steps.send((yield command))
    except StopIteration:
        return


def _routed_now(flow: http.HTTPFlow) -> bool:
    route_now = _request_now
    if route_now is None or not flow.live or flow.response is not None or flow.error:
        return False
    return route_now(flow)
