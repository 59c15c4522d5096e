"""Which store a config's ``state`` names. Kept apart from the ``store`` protocol module, which
both stores import: the factory imports the stores, never the other way round."""

from __future__ import annotations

from crosswire.pool.store import Store


def make_store(spec: str, *, prefix: str = "crosswire:") -> Store:
    """``memory`` or ``redis://…`` (also ``rediss://``, ``unix://``)."""
    if spec == "memory":
        from crosswire.pool.memory_store import MemoryStore

        return MemoryStore()
    from crosswire.pool.redis_store import RedisStore  # imports the Redis client only when used

    return RedisStore(spec, prefix=prefix)
