"""The universal representation: the neutral hub every protocol decodes into and encodes from.

Sans-IO: nothing here imports mitmproxy or does I/O.
"""

from crosswire.ir.accumulate import Accumulator, accumulate, replay
from crosswire.ir.errors import (
    ClientRequestError,
    ConversionError,
    Error,
    ErrorKind,
    UnsupportedFeature,
    UpstreamProtocolError,
    kind_for_status,
)
from crosswire.ir.events import (
    Event,
    PartDelta,
    PartEnd,
    PartStart,
    ResponseStart,
    StreamError,
    StreamFinish,
    UsageUpdate,
)
from crosswire.ir.parts import File, Native, Opaque, Part, Reasoning, Text, ToolCall, ToolResult
from crosswire.ir.report import Note, Report
from crosswire.ir.request import (
    FimPrompt,
    Message,
    NativeTool,
    Params,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Role,
    Tool,
    ToolChoice,
)
from crosswire.ir.response import Finish, FinishReason, Response, Usage

__all__ = [
    "Accumulator",
    "ClientRequestError",
    "ConversionError",
    "Error",
    "ErrorKind",
    "Event",
    "File",
    "FimPrompt",
    "Finish",
    "FinishReason",
    "Message",
    "Native",
    "NativeTool",
    "Note",
    "Opaque",
    "Params",
    "Part",
    "PartDelta",
    "PartEnd",
    "PartStart",
    "Reasoning",
    "ReasoningConfig",
    "Report",
    "Request",
    "Response",
    "ResponseFormat",
    "ResponseStart",
    "Role",
    "StreamError",
    "StreamFinish",
    "Text",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "ToolResult",
    "UnsupportedFeature",
    "UpstreamProtocolError",
    "Usage",
    "UsageUpdate",
    "accumulate",
    "kind_for_status",
    "replay",
]
