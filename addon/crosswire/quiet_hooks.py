"""Whether any other addon would act on a routed flow in its ``request`` or ``responseheaders``
hook.

crosswire answers those two hooks inside mitmproxy's HTTP layer, skipping the hook round
(``engine/layer_hooks``), only when that loses nothing: every other such hook in the chain is
one this module knows to do nothing with the current options. mitmproxy's own addons act only
when an option asks (``map_remote``, ``block_list``, ``modify_headers``…) or on flows crosswire
always leaves to the hook (an h2c upgrade, the CRL or ``mitm.it`` address); an addon this module
does not know — a user's script, mitmweb's interception — is assumed to act. So is any addon
with an ``update`` hook (mitmweb's flow list), which the round also runs. crosswire's own
addons say for themselves (``quiet_request``), and may do their part from the layer too
(``request_in_layer``: client admission, while quotas count in memory; ``Survey.leaders``).
One ``request`` hook only takes note of the flow and is called directly instead
(``Survey.followers``): ``save_stream_file``'s, so that a flow in flight is still saved at exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from mitmproxy import http

Options = Any
Hook = Literal["request", "responseheaders"]
Quiet = Callable[[Any, Options], bool]

#: mitmproxy addons (module.class) whose hook does nothing while this holds, per hook.
_QUIET: dict[Hook, dict[str, Quiet]] = {
    "request": {
        "mitmproxy.addons.anticache.AntiCache": lambda _, o: not o.anticache,
        "mitmproxy.addons.anticomp.AntiComp": lambda _, o: not o.anticomp,
        "mitmproxy.addons.blocklist.BlockList": lambda _, o: not o.block_list,
        "mitmproxy.addons.mapremote.MapRemote": lambda _, o: not o.map_remote,
        "mitmproxy.addons.maplocal.MapLocal": lambda _, o: not o.map_local,
        "mitmproxy.addons.modifybody.ModifyBody": lambda _, o: not o.modify_body,
        "mitmproxy.addons.stickyauth.StickyAuth": lambda _, o: not o.stickyauth,
        "mitmproxy.addons.stickycookie.StickyCookie": lambda _, o: not o.stickycookie,
        "mitmproxy.addons.save.Save": lambda _, o: not o.save_stream_file,
        # Flows to replay come from the option or the `replay.server` command: its own state.
        "mitmproxy.addons.serverplayback.ServerPlayback": lambda a, _: not getattr(a, "flowmap", 1),
        # These act on requests of their own kind only, which `quiet_for` leaves to the hook.
        "mitmproxy.addons.disable_h2c.DisableH2C": lambda _, o: True,
        "mitmproxy.addons.tlsconfig.TlsConfig": lambda _, o: True,
        "mitmproxy.addons.onboarding.Onboarding": lambda _, o: True,
    },
    "responseheaders": {
        "mitmproxy.addons.modifyheaders.ModifyHeaders": lambda _, o: not o.modify_headers,
        # Rewrites Alt-Svc for reverse proxies only.
        "mitmproxy.addons.update_alt_svc.UpdateAltSvc": lambda _, o: (
            o.keep_alt_svc_header or not any(str(m).startswith("reverse") for m in o.mode)
        ),
    },
}
#: mitmproxy addons whose ``request`` hook, when it acts, is synchronous and only takes note of
#: the flow: called directly for a flow routed in the layer.
_FOLLOWERS = frozenset({"mitmproxy.addons.save.Save"})


@dataclass(frozen=True, slots=True)
class Survey:
    #: Addons (class names) whose hook might act on a routed flow: while there are any, every
    #: flow takes the hook.
    loud: tuple[str, ...]
    #: crosswire's own addons' work to do first for a flow whose hook is answered in the layer
    #: (client admission), in the chain's order.
    leaders: tuple[Callable[[http.HTTPFlow], object], ...]
    #: The hooks to call after it, in the chain's order.
    followers: tuple[Callable[[http.HTTPFlow], object], ...]


def survey(addons: Iterable[object], options: Options, router: object, hook: Hook) -> Survey:
    """The ``hook`` methods of ``addons`` (all of the chain; ``router``, crosswire itself, is
    left out), sorted into those that might act on a routed flow and those to follow."""
    known = _QUIET[hook]
    loud = []
    leaders = []
    followers = []
    for addon in addons:
        if addon is router:
            continue
        method = getattr(addon, hook, None)
        if callable(getattr(addon, "update", None)):  # the round's `update` would be missed
            loud.append(type(addon).__name__)
            continue
        if not callable(method):
            continue
        own = getattr(addon, f"quiet_{hook}", None)
        cls = type(addon)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if callable(own):
            quiet = bool(own())
            in_layer = getattr(addon, f"{hook}_in_layer", None)
            lead = in_layer() if not quiet and callable(in_layer) else None
            if lead is not None:
                leaders.append(lead)
                continue
        else:
            check = known.get(name)
            quiet = check is not None and check(addon, options)
        if quiet:
            continue
        if hook == "request" and name in _FOLLOWERS:
            followers.append(method)
        else:
            loud.append(cls.__name__)
    return Survey(tuple(loud), tuple(leaders), tuple(followers))


def quiet_for(flow: http.HTTPFlow) -> bool:
    """Whether this request is one that none of mitmproxy's own hooks above acts on whatever
    the options: not an upgrade (WebSocket, h2c), not HTTP/2's preface, not the CRL address."""
    data = flow.request.data
    if data.method == b"PRI" or data.path.endswith(b".crl"):
        return False
    return not any(name.lower() == b"upgrade" for name, _ in data.headers.fields)
