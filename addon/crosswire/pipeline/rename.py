"""The model the route chose: the backend gets ``Target.model``, whatever the app asked for
(the app's own name stays in the exchange's decoded request, for its answer)."""

from __future__ import annotations

import dataclasses

from crosswire import ir
from crosswire.pipeline.step import Step


class ModelRename(Step):
    def up(self, request: ir.Request) -> ir.Request:
        return dataclasses.replace(request, model=self.context.target.model)
