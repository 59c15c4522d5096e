"""Entry for plain mitmproxy: ``mitmdump -s addon/crosswire/mitm.py --set crosswire_config=FILE``.

mitmproxy puts this file's folder on ``sys.path``; the package root is one level up. The order
of ``addons`` is the order of every hook: the metrics endpoint and client access answer before
the engine routes; client quotas and telemetry read the flow's finished record after it.
"""

import sys
from pathlib import Path

_root = str(Path(__file__).resolve().parents[1])
if _root not in sys.path:
    sys.path.insert(0, _root)

from crosswire import view  # noqa: E402
from crosswire.access import ClientAccess, ClientQuota  # noqa: E402
from crosswire.addon import Crosswire  # noqa: E402
from crosswire.endpoint import MetricsEndpoint  # noqa: E402
from crosswire.telemetry import Telemetry  # noqa: E402

view.register()
crosswire = Crosswire()
addons = [
    MetricsEndpoint(crosswire),
    ClientAccess(crosswire),
    crosswire,
    ClientQuota(crosswire),
    Telemetry(config_source=lambda: crosswire.runtime.cfg if crosswire.runtime else None),
]
