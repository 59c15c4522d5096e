"""What the proxy builds while it starts — crosswire's modules, the config, codecs, schemas —
lives as long as the proxy; it is taken out of the garbage collector's way once built.

Why: every full collection walks every tracked object. With crosswire loaded, mitmdump holds
about 112,000 of them instead of 86,000, and the first full collection after the start came a
few hundred requests in and stopped the proxy's only thread for 90–140 ms (measured with the
openai SDK as the app; bare mitmdump had none in the same run). Frozen (``gc.freeze``) once the
proxy runs, after a collection of the start's own garbage, those objects are never walked again;
what the proxy makes later is collected as usual.

Only the start is frozen, never later: a frozen object that becomes garbage in a reference cycle
is never freed, and later there are connections and flows in flight whose objects are exactly
that. For the same reason a config reload unfreezes (the config it replaced must be freeable);
the process then collects as plain Python does.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("crosswire")

_settled = False


def settle() -> None:
    """Collect the start's garbage, then freeze what survives — once per process."""
    global _settled
    if _settled:
        return
    _settled = True
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.debug(
        "crosswire: %d long-lived objects frozen in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1e3,
    )


def release() -> None:
    """The frozen objects back to the collector (a config was replaced: it must be freeable)."""
    if gc.get_freeze_count():
        gc.unfreeze()
