"""The app's FIM or completions request → IR (a ``FimPrompt`` instead of messages).

Unknown fields are kept in ``Request.native[<codec name>]`` for the same protocol's encoder.
"""

from __future__ import annotations

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import expect, loads_client, optional
from crosswire.protocols.fim.mapping import MODELLED


def decode(call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
    name = call.protocol
    data = loads_client(body)
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        else:
            raise UnsupportedFeature(
                "'prompt' must be one string (token arrays and batches are not supported)",
                param="prompt",
            )
    prompt = expect(prompt, str, "prompt")
    stop = data.get("stop")
    stops = (
        (stop,)
        if isinstance(stop, str)
        else tuple(expect(s, str, "stop[]") for s in stop)
        if isinstance(stop, list)
        else None
    )
    seed = optional(data, "random_seed", int)
    temperature = optional(data, "temperature", (int, float))
    top_p = optional(data, "top_p", (int, float))
    opts = optional(data, "stream_options", dict) or {}
    include_usage = opts.get("include_usage")
    native = {k: v for k, v in data.items() if k not in MODELLED}
    return ir.Request(
        model=optional(data, "model", str) or "",
        fim=ir.FimPrompt(prefix=prompt, suffix=optional(data, "suffix", str)),
        params=ir.Params(
            max_tokens=optional(data, "max_tokens", int),
            min_tokens=optional(data, "min_tokens", int),
            temperature=None if temperature is None else float(temperature),
            top_p=None if top_p is None else float(top_p),
            stop=stops,
            seed=seed if seed is not None else optional(data, "seed", int),
            n=optional(data, "n", int),
        ),
        stream=bool(optional(data, "stream", bool)),
        include_usage=include_usage if isinstance(include_usage, bool) else None,
        native={name: native} if native else {},
    )
