"""The output-token limit, once for every backend.

``Target.max_output_tokens`` (a backend's or a model's ceiling from the config) clamps
``Params.max_tokens`` (note ``clamped``); a backend whose wire requires a value
(``Codec.requires_max_tokens``: Anthropic) gets ``Target.default_max_tokens`` when the app set
none (note ``invented``). Encoders write ``Params.max_tokens`` as they find it. Passthrough
requests are clamped on their JSON by the engine's planner (``Wire.max_tokens_keys``), not
here: they are never decoded.
"""

from __future__ import annotations

import dataclasses

from crosswire import ir
from crosswire.pipeline.step import Step


class Clamp(Step):
    def up(self, request: ir.Request) -> ir.Request:
        backend, target, report = self.context.backend, self.context.target, self.context.report
        asked = request.params.max_tokens
        wanted = asked
        if wanted is None and backend.requires_max_tokens:
            wanted = target.default_max_tokens
            report.invented("max_tokens", f"{wanted} ({backend.name} requires it)")
        ceiling = target.max_output_tokens
        if wanted is not None and ceiling is not None and wanted > ceiling:
            report.clamped("max_tokens", f"{wanted} → {ceiling} (backend limit)")
            wanted = ceiling
        if wanted == asked:
            return request
        params = dataclasses.replace(request.params, max_tokens=wanted)
        return dataclasses.replace(request, params=params)
