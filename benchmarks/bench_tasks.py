"""Tasks for benchmarks/redis_bench.py (imported by the benchmark's worker process)."""

from __future__ import annotations

import time


async def noop() -> None:
    return None


async def stamp() -> float:
    """When the task started running (epoch seconds): submit-to-start latency."""
    return time.time()
