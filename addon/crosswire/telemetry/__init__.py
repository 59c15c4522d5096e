"""OpenTelemetry export of crosswire's exchanges (spans + GenAI metrics), off by default.

``Telemetry`` is the mitmproxy addon; ``settings`` decides whether it is on, ``semconv`` maps
a flow's record to GenAI semantic conventions, ``export`` holds the (optional) SDK.
"""

from crosswire.telemetry.addon import Telemetry

__all__ = ["Telemetry"]
