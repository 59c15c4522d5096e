"""Errors, in the IR and as Python exceptions.

    ConversionError                      anything the converters raise
     ├── ClientRequestError              the app's request is bad: 4xx in the *client's* shape,
     │    └── UnsupportedFeature         nothing sent upstream (it names the field)
     └── UpstreamProtocolError           the upstream answered something we cannot parse

An upstream's own error answer (a 429 body, an ``event: error`` mid-stream) is not an exception:
it decodes into an ``Error`` value and is re-encoded in the client's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "quota_exhausted",
    "api_error",
    "overloaded",
    "unavailable",
    "timeout",
]

#: The HTTP status that fits each kind, when the upstream gave none.
STATUS_FOR_KIND: dict[ErrorKind, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "quota_exhausted": 429,
    "api_error": 500,
    "overloaded": 529,
    "unavailable": 503,
    "timeout": 504,
}

_KIND_FOR_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "unavailable",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}


def kind_for_status(status: int) -> ErrorKind:
    """The error kind an HTTP status implies, for upstreams whose body says nothing better."""
    if status in _KIND_FOR_STATUS:
        return _KIND_FOR_STATUS[status]
    return "invalid_request" if 400 <= status < 500 else "api_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """An error to show the app. ``status`` is the HTTP status to answer with; ``code`` and
    ``param`` are carried where the client shape has them."""

    kind: ErrorKind
    message: str
    status: int
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, kind: ErrorKind, message: str, **kw: object) -> Error:
        return cls(kind=kind, message=message, status=STATUS_FOR_KIND[kind], **kw)  # type: ignore[arg-type]


class ConversionError(Exception):
    """Base of everything the converters raise."""

    def to_error(self) -> Error:
        return Error.of("api_error", str(self))


class ClientRequestError(ConversionError):
    """The app's request cannot be served as sent; ``status`` is the 4xx to answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        kind: ErrorKind = "invalid_request",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.kind: ErrorKind = kind

    def to_error(self) -> Error:
        return Error(kind=self.kind, message=str(self), status=self.status, param=self.param)


class UnsupportedFeature(ClientRequestError):
    """The request uses something the backend's protocol cannot express."""


class UpstreamProtocolError(ConversionError):
    """The upstream's bytes are not what its protocol promises (bad JSON, cut stream)."""

    def to_error(self) -> Error:
        return Error(kind="api_error", message=f"upstream protocol error: {self}", status=502)
