"""An offline token estimate, for ``count_tokens`` endpoints whose backend has none and for
``message_start.usage.input_tokens`` before the upstream has counted.

No tokenizer is downloaded at run time (air-gapped sites are a main use), so this is a
heuristic: about 4 characters per token for prose and code, a fixed cost per message, tool and
image. It counts everything the model sees: system, messages, tool schemas. Answers built on it
say it is an estimate where the protocol has a place for that.
"""

from __future__ import annotations

import json

from crosswire.ir.parts import File, Opaque, Reasoning, Text, ToolCall, ToolResult
from crosswire.ir.request import Request

_CHARS_PER_TOKEN = 4.0
_PER_MESSAGE = 4
_PER_TOOL = 8
_PER_IMAGE = 1000
_PER_DOCUMENT_PAGE_GUESS = 1500


def estimate_input_tokens(request: Request) -> int:
    chars = 0
    fixed = 0
    for message in request.messages:
        fixed += _PER_MESSAGE
        for part in message.parts:
            match part:
                case Text():
                    chars += len(part.text)
                case Reasoning():
                    chars += len(part.text)
                case ToolCall():
                    chars += len(part.name) + len(part.arguments)
                case ToolResult():
                    for inner in part.content:
                        if isinstance(inner, Text):
                            chars += len(inner.text)
                        else:
                            fixed += _file_cost(inner)
                case File():
                    fixed += _file_cost(part)
                case Opaque():
                    chars += len(json.dumps(part.data))
    for tool in request.tools:
        fixed += _PER_TOOL
        chars += len(tool.name) + len(tool.description or "")
        if tool.parameters:
            chars += len(json.dumps(tool.parameters, separators=(",", ":")))
    if request.fim is not None:
        chars += len(request.fim.prefix) + len(request.fim.suffix or "")
    return fixed + int(chars / _CHARS_PER_TOKEN + 0.999)


def _file_cost(part: File) -> int:
    if part.kind == "image":
        return _PER_IMAGE
    if part.data:
        # A base64 document: a rough page count from its size (~75 kB per page).
        return max(1, len(part.data) * 3 // 4 // 75_000) * _PER_DOCUMENT_PAGE_GUESS
    return _PER_DOCUMENT_PAGE_GUESS
