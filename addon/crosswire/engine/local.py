"""Side endpoints crosswire answers itself when the backend speaks another protocol.

An app's model list or token count cannot be converted to a backend that has no such call, so
crosswire answers in the app's shape: the models its routes expose, and an offline token
estimate (marked ``x-crosswire-estimate: true``).
"""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import http

from crosswire import ir
from crosswire.engine import answer
from crosswire.engine.planner import Planner
from crosswire.ir.estimate import estimate_input_tokens
from crosswire.protocols import codec
from crosswire.protocols.base import ModelInfo


def respond(flow: http.HTTPFlow, planner: Planner, models: Sequence[str], route: str) -> None:
    call = planner.call
    client = codec(call.protocol)
    try:
        if call.endpoint == "models":
            content = client.encode_models(call, [ModelInfo(id=m) for m in models])
        else:
            content = client.encode_count_tokens(call, estimate_input_tokens(planner.decoded()))
    except ir.ClientRequestError as exc:
        err = exc.to_error()
        answer.refuse(flow, call.protocol, call, err, f"{call.protocol} (refused) · {err.message}")
        return
    except NotImplementedError:
        err = ir.Error.of("not_found", f"{call.protocol} has no such endpoint")
        answer.refuse(flow, call.protocol, call, err, f"{call.protocol} (refused) · {err.message}")
        return
    headers = {"content-type": "application/json"}
    if call.endpoint == "count_tokens":
        headers["x-crosswire-estimate"] = "true"
    flow.response = http.Response.make(200, content, headers)
    flow.comment = f"{call.protocol} (answered by crosswire) · {route} · {call.endpoint}"
