"""One socket's conversation memory and the meaning of each client message (sans-IO).

Why crosswire keeps a conversation at all: in Responses WebSocket mode an app (Codex) sends,
after the first turn, only the *new* input items plus ``previous_response_id``; OpenAI keeps
the rest in a cache that lives as long as the socket. A backend reached through conversion
(Anthropic, Gemini, a Chat server) has no such state, so crosswire keeps it instead: for each
response it served on this socket, the full input it was generated from plus the output items
it produced. A continuation becomes one stateless request with the whole history.

Each remembered response is a node pointing at its parent, holding only the items it added, so a
long agent loop costs memory linear in its items (not quadratic); a bounded number of response
ids stay addressable (OpenAI's cache is connection-local and bounded too), older ones are
forgotten and a continuation from them gets ``previous_response_id`` not found, which is what
OpenAI answers and what Codex recovers from by resending the full input.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

#: Fields of ``response.create`` that belong to the socket, not to ``POST /v1/responses``.
WS_ONLY_FIELDS = ("type", "generate", "stream_id", "client_metadata", "background", "stream")
#: How many response ids one socket can continue from.
DEFAULT_REMEMBERED = 64


class MessageError(Exception):
    """A client message crosswire cannot act on; answered with an ``error`` event."""

    def __init__(
        self, message: str, *, code: str, status: int = 400, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.param = param


@dataclass(frozen=True, slots=True)
class _Node:
    parent: _Node | None
    items: tuple[Any, ...]

    def history(self) -> list[Any]:
        chain: list[tuple[Any, ...]] = []
        node: _Node | None = self
        while node is not None:
            chain.append(node.items)
            node = node.parent
        return [item for items in reversed(chain) for item in items]


@dataclass(slots=True)
class Turn:
    """What one ``response.create`` asks for.

    ``body`` is the ``POST /v1/responses`` body (whole history, ``stream: true``, no socket-only
    fields); ``generate`` false is Codex's warm-up (answered without a backend call);
    ``stream_id`` is echoed on every event of this response.
    """

    body: dict[str, Any]
    generate: bool = True
    stream_id: str | None = None
    _base: _Node | None = None
    _input: tuple[Any, ...] = ()

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) else ""


@dataclass(slots=True)
class Conversation:
    """The responses this socket served, by id, each with its whole history."""

    limit: int = DEFAULT_REMEMBERED
    _nodes: OrderedDict[str, _Node] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._nodes)

    def plan(self, message: Any) -> Turn:
        """Read one client message; raise :class:`MessageError` when it cannot be served."""
        if not isinstance(message, dict):
            raise MessageError("a message must be a JSON object", code="invalid_json")
        kind = message.get("type")
        if kind != "response.create":
            raise MessageError(
                f"crosswire serves only 'response.create' over this socket, not {kind!r}",
                code="unsupported_event_type",
                param="type",
            )
        body = {k: v for k, v in message.items() if k not in WS_ONLY_FIELDS}
        generate = message.get("generate") is not False
        stream_id = message.get("stream_id") if isinstance(message.get("stream_id"), str) else None
        items = _as_items(body.get("input"))
        previous = body.pop("previous_response_id", None)
        base: _Node | None = None
        if previous is not None:
            if not isinstance(previous, str) or previous not in self._nodes:
                raise MessageError(
                    f"Previous response with id '{previous}' not found on this connection.",
                    code="previous_response_not_found",
                    param="previous_response_id",
                )
            base = self._nodes[previous]
            self._nodes.move_to_end(previous)
        history = base.history() if base is not None else []
        body["input"] = [*history, *items]
        body["stream"] = True
        return Turn(body=body, generate=generate, stream_id=stream_id, _base=base, _input=items)

    def remember(self, turn: Turn, response_id: str, output: list[Any]) -> None:
        """A response completed: its id now continues from its input plus its output."""
        if not response_id:
            return
        node = _Node(_Node(turn._base, turn._input), tuple(output))
        self._nodes[response_id] = node
        self._nodes.move_to_end(response_id)
        while len(self._nodes) > self.limit:
            self._nodes.popitem(last=False)


def _as_items(value: Any) -> tuple[Any, ...]:
    """``input`` as a list of items: a bare string is one user message (as the HTTP API reads
    it); anything else that is not a list is left for the backend request to refuse."""
    if value is None:
        return ()
    if isinstance(value, str):
        return ({"type": "message", "role": "user", "content": value},)
    if isinstance(value, list):
        return tuple(value)
    raise MessageError(
        "'input' must be a string or a list of items", code="invalid_value", param="input"
    )


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def parse_message(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MessageError(f"the message is not valid JSON: {exc}", code="invalid_json") from None
