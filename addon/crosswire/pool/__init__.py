"""The key pool: leases, strategies, cooldowns learnt from answers, memory or Redis state."""

from crosswire.pool.model import BackendSpec, KeySpec, KeyState, Lease, NoKey, Outcome, TokenUsage
from crosswire.pool.pool import Pool
from crosswire.pool.store import MemoryStore, Store, make_store

__all__ = [
    "BackendSpec",
    "KeySpec",
    "KeyState",
    "Lease",
    "MemoryStore",
    "NoKey",
    "Outcome",
    "Pool",
    "Store",
    "TokenUsage",
    "make_store",
]
