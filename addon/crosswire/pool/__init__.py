"""The key pool: leases, strategies, limits learnt from answers, memory or Redis state."""

from crosswire.pool.factory import make_store
from crosswire.pool.memory_store import MemoryStore
from crosswire.pool.model import (
    BackendSpec,
    KeySpec,
    KeyState,
    Lease,
    NoKey,
    Outcome,
    RouteUsage,
    TokenUsage,
)
from crosswire.pool.pool import Pool
from crosswire.pool.store import Store

__all__ = [
    "BackendSpec",
    "KeySpec",
    "KeyState",
    "Lease",
    "MemoryStore",
    "NoKey",
    "Outcome",
    "Pool",
    "RouteUsage",
    "Store",
    "TokenUsage",
    "make_store",
]
