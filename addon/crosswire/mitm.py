"""Entry for plain mitmproxy: ``mitmdump -s addon/crosswire/mitm.py --set crosswire_config=FILE``.

mitmproxy puts this file's folder on ``sys.path``; the package root is one level up.
"""

import sys
from pathlib import Path

_root = str(Path(__file__).resolve().parents[1])
if _root not in sys.path:
    sys.path.insert(0, _root)

from crosswire import view  # noqa: E402
from crosswire.addon import Crosswire  # noqa: E402
from crosswire.telemetry import Telemetry  # noqa: E402

view.register()
# Telemetry after Crosswire: its response/error hooks see the final record.
addons = [Crosswire(), Telemetry()]
