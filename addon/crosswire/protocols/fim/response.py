"""Whole FIM / completions answers ⇄ IR.

FIM answers look like chat completions (``choices[].message.content``), completions answers
like ``text_completion`` objects (``choices[].text``).
"""

from __future__ import annotations

import time
from typing import Any

from crosswire import ir
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import as_list, dumps, loads_upstream
from crosswire.protocols.fim.mapping import CHAT_SHAPED, FINISH_IN, FINISH_OUT, usage_in, usage_out


def encode(
    call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
) -> bytes:
    text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
    finish = FINISH_OUT.get(response.finish.reason, "stop")
    if call.protocol == CHAT_SHAPED:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": None},
            "finish_reason": finish,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    return dumps(
        {
            "id": response.id or "cmpl-crosswire",
            "object": obj,
            "created": response.created or int(time.time()),
            "model": response.model or request.model,
            "choices": [choice],
            "usage": usage_out(response.usage),
        }
    )


def decode(body: bytes, report: ir.Report) -> ir.Response:
    data = loads_upstream(body)
    if not isinstance(data, dict):
        raise UpstreamProtocolError("completion is not a JSON object")
    choices = as_list(data.get("choices"))
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    text = choice_text(choice)
    raw = choice.get("finish_reason")
    return ir.Response(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        parts=(ir.Text(text=text),) if text else (),
        finish=ir.Finish(
            reason=FINISH_IN.get(str(raw), "stop"), raw=raw if isinstance(raw, str) else None
        ),
        usage=usage_in(data.get("usage")),
    )


def choice_text(choice: dict[str, Any]) -> str:
    """The text of one choice, in either shape (``message``/``delta`` content, or ``text``)."""
    for holder in (choice.get("message"), choice.get("delta")):
        content = holder.get("content") if isinstance(holder, dict) else None
        if isinstance(content, str):
            return content
    text = choice.get("text")
    return text if isinstance(text, str) else ""
