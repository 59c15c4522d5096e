"""Which other ``request`` hooks would act on a routed request — on mitmdump's real addon chain
with its real options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http, options
from mitmproxy.addonmanager import traverse
from mitmproxy.addons.save import Save
from mitmproxy.test import tflow
from mitmproxy.tools.dump import DumpMaster

from crosswire import quiet_hooks


class Router:
    def request(self, flow: http.HTTPFlow) -> None: ...


class Script:
    """A user's addon: crosswire cannot know what its hook does."""

    def request(self, flow: http.HTTPFlow) -> None: ...


class Own:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def quiet_request(self) -> bool:
        return self.quiet

    def request(self, flow: http.HTTPFlow) -> None: ...


@pytest.fixture
async def master() -> Any:
    m = DumpMaster(options.Options(), with_termlog=False, with_dumper=True)
    yield m


def survey(master: Any, *extra: object, hook: quiet_hooks.Hook = "request") -> quiet_hooks.Survey:
    router = Router()
    chain = [*master.addons.chain, router, *extra]
    return quiet_hooks.survey(traverse(chain), master.options, router, hook)


async def test_mitmdump_with_its_default_options_is_quiet(master: Any) -> None:
    assert survey(master) == quiet_hooks.Survey(loud=(), leaders=(), followers=())


@pytest.mark.parametrize(
    ("option", "value", "addon"),
    [
        ("map_remote", ["|example.com|example.org"], "MapRemote"),
        ("map_local", ["|example.com|/tmp"], "MapLocal"),
        ("modify_body", ["/~q/a/b"], "ModifyBody"),
        ("block_list", [":~d example.com:404"], "BlockList"),
        ("anticache", True, "AntiCache"),
        ("anticomp", True, "AntiComp"),
        ("stickycookie", "~d example.com", "StickyCookie"),
        ("stickyauth", "~d example.com", "StickyAuth"),
    ],
)
async def test_an_option_that_acts_on_requests_makes_its_addon_loud(
    master: Any, option: str, value: object, addon: str
) -> None:
    master.options.update(**{option: value})
    assert survey(master).loud == (addon,)


async def test_saved_flows_are_followed_not_loud(master: Any, tmp_path: Path) -> None:
    master.options.update(save_stream_file=str(tmp_path / "flows.mitm"))
    found = survey(master)
    assert found.loud == ()
    [follow] = found.followers
    assert isinstance(getattr(follow, "__self__", None), Save)
    master.addons.get("save").done()


async def test_an_unknown_addon_is_loud_and_crosswires_own_say_for_themselves(
    master: Any,
) -> None:
    assert survey(master, Script(), Own(quiet=True), Own(quiet=False)).loud == ("Script", "Own")


@pytest.mark.parametrize(
    ("change", "quiet"),
    [
        ({}, True),
        ({"headers": [("Upgrade", "websocket")]}, False),
        ({"headers": [("upgrade", "h2c")]}, False),
        ({"method": "PRI", "path": "*"}, False),
        ({"path": "/mitmproxy-0123abcd.crl"}, False),
    ],
)
def test_requests_of_mitmproxys_own_kinds_are_left_to_the_hook(
    change: dict[str, Any], quiet: bool
) -> None:
    flow = tflow.tflow()
    for name, value in change.get("headers", []):
        flow.request.headers[name] = value
    if "method" in change:
        flow.request.method = change["method"]
    if "path" in change:
        flow.request.path = change["path"]
    assert quiet_hooks.quiet_for(flow) is quiet


class Watcher:
    """An addon with an ``update`` hook (mitmweb's flow list): the hook round runs it."""

    def update(self, flows: object) -> None: ...


async def test_response_headers_are_quiet_unless_an_option_rewrites_them(master: Any) -> None:
    assert survey(master, hook="responseheaders").loud == ()
    master.options.update(modify_headers=["/~s/x-a/b"])
    assert survey(master, hook="responseheaders").loud == ("ModifyHeaders",)


async def test_alt_svc_is_rewritten_for_a_reverse_proxy_only(master: Any) -> None:
    master.options.update(mode=["reverse:https://example.com"])
    assert survey(master, hook="responseheaders").loud == ("UpdateAltSvc",)
    master.options.update(keep_alt_svc_header=True)
    assert survey(master, hook="responseheaders").loud == ()


async def test_an_update_hook_makes_both_rounds_loud(master: Any) -> None:
    for hook in ("request", "responseheaders"):
        assert survey(master, Watcher(), hook=hook).loud == ("Watcher",)  # type: ignore[arg-type]


class Admits(Own):
    """crosswire's client access: with clients, its work can be done from the layer or not."""

    def __init__(self, possible: bool) -> None:
        super().__init__(quiet=False)
        self.possible = possible

    def request_in_layer(self) -> Any:
        return self.admit if self.possible else None

    def admit(self, flow: http.HTTPFlow) -> None: ...


async def test_crosswires_own_work_that_need_not_wait_leads(master: Any) -> None:
    leading, waiting = Admits(possible=True), Admits(possible=False)
    found = survey(master, leading, waiting)
    assert found.leaders == (leading.admit,)
    assert found.loud == ("Admits",)  # quotas in Redis: a round trip, so the hook
