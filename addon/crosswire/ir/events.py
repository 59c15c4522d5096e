"""Stream events: the IR of a streamed answer.

Theory of operation. A stream is ``ResponseStart``, then for each part ``PartStart``, zero or
more deltas, ``PartEnd``; optional ``UsageUpdate``s anywhere after the start; and it ends
with exactly one ``Finish`` (success) or one ``StreamError``. Part indices are dense, start at 0
and are owned by the IR (not the wire): one part is open at a time, every part starts once and
ends once. Decoders buffer what their wire interleaves (parallel OpenAI tool-call deltas) to keep
that promise; encoders may then map events one to one.

``PartStart.part`` carries the part with whatever is known at its start (a tool call's id and
name with empty arguments, an empty text, a redacted reasoning's whole data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crosswire.ir.errors import Error
from crosswire.ir.parts import Part
from crosswire.ir.response import Finish, Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseStart:
    id: str
    model: str
    #: Known at the start (Anthropic's input count), or a local estimate (``estimated=True``).
    usage: Usage = field(default_factory=Usage)
    created: int | None = None
    type: Literal["response_start"] = "response_start"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartStart:
    index: int
    part: Part
    type: Literal["part_start"] = "part_start"


DeltaKind = Literal["text", "reasoning", "signature", "arguments"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartDelta:
    """``text`` to Text, ``reasoning``/``signature`` to Reasoning, ``arguments`` (a JSON
    fragment) to ToolCall."""

    index: int
    kind: DeltaKind
    text: str
    type: Literal["part_delta"] = "part_delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartEnd:
    index: int
    type: Literal["part_end"] = "part_end"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageUpdate:
    """Cumulative: fields present replace earlier values (see ``Usage.merged``)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFinish:
    finish: Finish
    usage: Usage = field(default_factory=Usage)
    type: Literal["finish"] = "finish"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamError:
    error: Error
    type: Literal["error"] = "error"


Event = ResponseStart | PartStart | PartDelta | PartEnd | UsageUpdate | StreamFinish | StreamError
