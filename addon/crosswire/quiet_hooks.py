"""Whether any other addon would act on a routed request in its ``request`` hook.

crosswire routes a request inside mitmproxy's HTTP layer, skipping the hook round
(``engine/layer_request``), only when that loses nothing: every other ``request`` hook in the
chain is one this module knows to do nothing with the current options. mitmproxy's own addons
act on a request only when an option asks (``map_remote``, ``block_list``, ``anticache``…) or
for a request crosswire never routes (an h2c upgrade, the CRL or ``mitm.it`` address); an addon
this module does not know — a user's script, mitmweb's flow list and interception — is assumed to
act, and then every request takes the hook. crosswire's own addons say for themselves
(``quiet_request``). One hook only takes note of the flow and is called directly instead
(``Survey.followers``): ``save_stream_file``'s, so that a flow in flight is still saved at exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

Options = Any
#: mitmproxy addons (module.class) whose ``request`` hook does nothing while this holds.
_QUIET: dict[str, Callable[[Any, Options], bool]] = {
    "mitmproxy.addons.anticache.AntiCache": lambda _, o: not o.anticache,
    "mitmproxy.addons.anticomp.AntiComp": lambda _, o: not o.anticomp,
    "mitmproxy.addons.blocklist.BlockList": lambda _, o: not o.block_list,
    "mitmproxy.addons.mapremote.MapRemote": lambda _, o: not o.map_remote,
    "mitmproxy.addons.maplocal.MapLocal": lambda _, o: not o.map_local,
    "mitmproxy.addons.modifybody.ModifyBody": lambda _, o: not o.modify_body,
    "mitmproxy.addons.stickyauth.StickyAuth": lambda _, o: not o.stickyauth,
    "mitmproxy.addons.stickycookie.StickyCookie": lambda _, o: not o.stickycookie,
    "mitmproxy.addons.save.Save": lambda _, o: not o.save_stream_file,
    # Flows to replay come from the option or from the `replay.server` command: its own state.
    "mitmproxy.addons.serverplayback.ServerPlayback": lambda a, _: not getattr(a, "flowmap", 1),
    # These act on requests of their own kind only, which `quiet_for` leaves to the hook.
    "mitmproxy.addons.disable_h2c.DisableH2C": lambda _, o: True,
    "mitmproxy.addons.tlsconfig.TlsConfig": lambda _, o: True,
    "mitmproxy.addons.onboarding.Onboarding": lambda _, o: True,
}
#: mitmproxy addons whose ``request`` hook, when it acts, is synchronous and only takes note of
#: the flow: called directly for a flow routed in the layer.
_FOLLOWERS = frozenset({"mitmproxy.addons.save.Save"})


@dataclass(frozen=True, slots=True)
class Survey:
    #: Addons (class names) whose ``request`` hook might act on a routed request: while there
    #: are any, every request takes the hook.
    loud: tuple[str, ...]
    #: The ``request`` hooks to call for a flow routed in the layer, in the chain's order.
    followers: tuple[Callable[[http.HTTPFlow], object], ...]


def survey(addons: Iterable[object], options: Options, router: object) -> Survey:
    """The ``request`` hooks of ``addons`` (all of the chain; ``router``, crosswire itself, is
    left out), sorted into those that might act on a routed request and those to follow."""
    loud = []
    followers = []
    for addon in addons:
        hook = getattr(addon, "request", None)
        if addon is router or not callable(hook):
            continue
        own = getattr(addon, "quiet_request", None)
        cls = type(addon)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if callable(own):
            quiet = bool(own())
        else:
            check = _QUIET.get(name)
            quiet = check is not None and check(addon, options)
        if quiet:
            continue
        if name in _FOLLOWERS:
            followers.append(hook)
        else:
            loud.append(cls.__name__)
    return Survey(tuple(loud), tuple(followers))


def quiet_for(flow: http.HTTPFlow) -> bool:
    """Whether this request is one that none of mitmproxy's own hooks above acts on whatever
    the options: not an upgrade (WebSocket, h2c), not HTTP/2's preface, not the CRL address."""
    data = flow.request.data
    if data.method == b"PRI" or data.path.endswith(b".crl"):
        return False
    return not any(name.lower() == b"upgrade" for name, _ in data.headers.fields)
