"""Which partition owns a location: murmur2 over the key, as the Java client and aiokafka do."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


@lru_cache(maxsize=65536)
def partition_for(location: str, partitions: int) -> int:
    """The partition of a location's events (cached: a few hundred locations, every event)."""
    every = list(range(partitions))
    return _partitioner(location.encode(), every, every)
