"""(host, path, model) → route, and which protocol and endpoint the app is speaking.

The client protocol is read from the request line alone, so that a bad body can already be
answered in the right error shape. Routes are tried in order, first match wins; hosts and
models match by glob.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from crosswire.config import Backend, Config, RouteConfig
from crosswire.protocols.base import ClientCall, Endpoint, ProtocolName

_GEMINI_MODEL = re.compile(
    r"^/(?P<ver>v1|v1beta|v1alpha|v1beta1)/(?:projects/[^/]+/locations/[^/]+/publishers/google/)?"
    r"(?:models|tunedModels)/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|countTokens)$"
)
_GEMINI_MODELS = re.compile(r"^/(v1|v1beta|v1alpha)/models/?$")

#: Where each protocol's official SDK puts the API version: the part of the app's path that a
#: backend's ``base_url`` replaces (OpenAI-style base URLs end in ``/v1``).
CLIENT_BASE_PREFIX: Mapping[str, str] = {
    "openai-chat": "/v1",
    "openai-responses": "/v1",
    "openai-completions": "/v1",
    "fim": "/v1",
    "anthropic": "",
    "gemini": "",
    "ollama": "",
}

#: The protocol a host speaks when a request's path is unknown (for its 404 body).
HOST_PROTOCOL: Mapping[str, ProtocolName] = {
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gemini",
    "api.openai.com": "openai-chat",
    "api.mistral.ai": "openai-chat",
    "codestral.mistral.ai": "fim",
}


#: Decrypted when a route names no host: the hosts the official SDKs call.
KNOWN_AI_HOSTS = (
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "api.mistral.ai",
    "codestral.mistral.ai",
)


@dataclass(frozen=True, slots=True)
class Detected:
    protocol: ProtocolName
    endpoint: Endpoint
    model: str | None = None
    stream: bool | None = None
    variant: str | None = None


_CHAT = Detected("openai-chat", "generate")
_RESPONSES = Detected("openai-responses", "generate")
#: The POST paths each protocol's SDK calls (Gemini's carry the model: ``_GEMINI_MODEL``).
POST_PATHS: Mapping[str, Detected] = {
    "/v1/chat/completions": _CHAT,
    "/chat/completions": _CHAT,
    "/openai/v1/chat/completions": _CHAT,
    "/v1/responses": _RESPONSES,
    "/openai/v1/responses": _RESPONSES,
    "/v1/responses/input_tokens": Detected("openai-responses", "count_tokens"),
    "/v1/completions": Detected("openai-completions", "generate", variant="completions"),
    "/v1/messages": Detected("anthropic", "generate"),
    "/v1/messages/count_tokens": Detected("anthropic", "count_tokens"),
    "/v1/fim/completions": Detected("fim", "generate", variant="fim"),
    "/api/chat": Detected("ollama", "generate", variant="chat"),
    "/api/generate": Detected("ollama", "generate", variant="generate"),
}


def detect(
    method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> Detected | None:
    """The protocol and endpoint of a request line, or None for a path no protocol has."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if method == "POST":
        fixed = POST_PATHS.get(path)
        if fixed is not None:
            return fixed
        m = _GEMINI_MODEL.match(path)
        if m:
            gm = m.group("method")
            if gm == "countTokens":
                return Detected("gemini", "count_tokens", model=m.group("model"))
            stream = gm == "streamGenerateContent"
            variant = ("sse" if query.get("alt") == "sse" else "json-array") if stream else None
            return Detected(
                "gemini", "generate", model=m.group("model"), stream=stream, variant=variant
            )
    elif method == "GET":
        if path == "/v1/models":
            protocol: ProtocolName = (
                "anthropic" if "anthropic-version" in headers else "openai-chat"
            )
            return Detected(protocol, "models")
        if _GEMINI_MODELS.match(path):
            return Detected("gemini", "models")
        if path == "/api/tags":
            return Detected("ollama", "models")
    return None


#: The app-side dialect of a host whose SDK expects a provider's own flavour of a protocol.
HOST_DIALECT: Mapping[str, str] = {
    "api.mistral.ai": "mistral",
    "codestral.mistral.ai": "mistral",
}


def to_call(
    d: Detected,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    host: str = "",
) -> ClientCall:
    return ClientCall(
        protocol=d.protocol,
        endpoint=d.endpoint,
        method=method,
        path=path,
        query=query,
        headers=headers,
        model=d.model,
        stream=d.stream,
        variant=d.variant,
        dialect=HOST_DIALECT.get(host.lower(), "openai"),
    )


def host_protocol(host: str) -> ProtocolName:
    return HOST_PROTOCOL.get(host, "openai-chat")


@dataclass(frozen=True, slots=True)
class Route:
    index: int
    config: RouteConfig
    backends: tuple[Backend, ...]
    #: Whether an attempt can fail over (more than one key or keyless backend in all).
    failover_possible: bool = field(init=False)

    def __post_init__(self) -> None:
        attempts = sum(max(1, len(b.keys)) for b in self.backends)
        object.__setattr__(self, "failover_possible", attempts > 1)

    @property
    def label(self) -> str:
        return f"route {self.index + 1}"


class Router:
    """The config's routes, compiled once per config load."""

    __slots__ = ("_hosts_seen", "_matched", "_routes", "hosts")

    def __init__(self, config: Config) -> None:
        self._routes = [
            Route(i, r, tuple(config.backends[b] for b in r.backends))
            for i, r in enumerate(config.routes)
        ]
        named = [r.config.match.host for r in self._routes if r.config.match.host]
        if any(r.config.match.host is None for r in self._routes):
            named += KNOWN_AI_HOSTS  # a host-less route takes every known AI host
        self.hosts: tuple[str, ...] = tuple(dict.fromkeys(named))
        # Answers per request shape, remembered for this config (a reload builds a new Router):
        # an app sends the same host, path and model over and over, and the glob matching
        # showed on the per-request path. Bounded: a client choosing model names freely only
        # makes the memo start over.
        self._hosts_seen: dict[str, bool] = {}
        self._matched: dict[tuple[str, str, str | None, str], Route | None] = {}

    def routes_host(self, host: str) -> bool:
        """Whether any route may take a request to ``host`` (a route without a host takes the
        known AI hosts)."""
        known = self._hosts_seen.get(host)
        if known is None:
            if len(self._hosts_seen) >= _MEMO_MAX:
                self._hosts_seen.clear()
            known = self._hosts_seen[host] = any(_glob(h, host) for h in self.hosts)
        return known

    def match(self, host: str, path: str, model: str | None, protocol: str) -> Route | None:
        key = (host, path, model, protocol)
        try:
            return self._matched[key]
        except KeyError:
            pass
        if len(self._matched) >= _MEMO_MAX:
            self._matched.clear()
        route = self._matched[key] = self._match(host, path, model, protocol)
        return route

    def _match(self, host: str, path: str, model: str | None, protocol: str) -> Route | None:
        for route in self._routes:
            m = route.config.match
            if not _glob(m.host, host):
                continue
            if m.path is not None and not fnmatchcase(path.split("?", 1)[0], m.path):
                continue
            if m.protocol is not None and m.protocol != protocol:
                continue
            if m.model is not None and (model is None or not fnmatchcase(model, m.model)):
                continue
            return route
        return None

    def models(self) -> Sequence[str]:
        """Model names the routes expose (renames, and literal model matches)."""
        names: list[str] = []
        for route in self._routes:
            pattern = route.config.match.model
            if pattern and not any(c in pattern for c in "*?["):
                names.append(pattern)
            elif route.config.model:
                names.append(route.config.model)
        return list(dict.fromkeys(names))

    def allow_hosts_patterns(self) -> list[str]:
        """Regexes for mitmproxy's ``allow_hosts``: only routed hosts are decrypted."""
        patterns = []
        for host in self.hosts:
            regex = re.escape(host).replace(r"\*", "[^.:]+").replace(r"\?", ".")
            patterns.append(f"^{regex}(:\\d+)?$")
        return patterns


_MEMO_MAX = 4096


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatchcase(value.lower(), pattern.lower())
