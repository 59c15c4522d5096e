"""``GET /v1/models`` in OpenAI's shape, the model list of both OpenAI protocols (Chat
Completions and Responses share the endpoint; edge 89 in docs/edge-cases.md).

``created`` is the time of the answer: the list is crosswire's routing table, not a release
history, and the SDKs require an integer there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from crosswire.protocols.base import ModelInfo
from crosswire.protocols.common import dumps


def encode(models: Sequence[ModelInfo]) -> bytes:
    now = int(time.time())
    data = [{"id": m.id, "object": "model", "created": now, "owned_by": m.owned_by} for m in models]
    return dumps({"object": "list", "data": data})
