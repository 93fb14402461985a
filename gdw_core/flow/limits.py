"""``queue.limits``: create, change, remove and list named limits at runtime (no redeploy).

await queue.limits.set("stripe", rate="100/m", burst=10, concurrency=5)
await queue.limits.list()      # [LimitUse(spec, holding=3, next_start_in=0.4, waiting=0)]
await queue.limits.remove("stripe")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdw_core.flow.limit import LimitSpec, LimitUse, check_limit_name
from gdw_core.flow.rate import Rate

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue
    from gdw_core.registry import TaskRegistry


def declared_limits(registry: TaskRegistry) -> list[LimitSpec]:
    """The limits ``@task(rate=..., concurrency=...)`` declares: one per such task, named after it."""
    out = []
    for name in registry.names():
        d = registry.get(name).defaults
        if d.rate is not None or d.concurrency is not None:
            out.append(LimitSpec(name, d.rate, 1, d.concurrency))
    return out


class Limits:
    def __init__(self, queue: TaskQueue) -> None:
        self._q = queue

    async def set(
        self,
        name: str,
        *,
        rate: str | Rate | None = None,
        burst: int | None = None,
        concurrency: int | None = None,
    ) -> LimitSpec:
        """Create or replace the limit ``name`` (``rate="100/m"``; ``burst``: how many may start
        at once after a quiet spell, default 1; ``concurrency``: at most that many running). Bad
        input raises InvalidLimit / InvalidRate and changes nothing."""
        spec = LimitSpec.build(name, rate, burst, concurrency)
        await self._q.open_storage()
        await self._q.storage.set_limit(spec)
        return spec

    async def remove(self, name: str) -> bool:
        """Tasks that take it are no longer held by it. False if there was no such limit."""
        check_limit_name(name)
        await self._q.open_storage()
        return await self._q.storage.remove_limit(name)

    async def list(self) -> list[LimitUse]:
        await self._q.open_storage()
        return await self._q.storage.limits()

    async def declare(self) -> None:
        """Write the limits this queue's registered tasks declare (every worker does at start;
        the code's definition wins over a runtime change of that one limit)."""
        for spec in declared_limits(self._q.registry):
            await self._q.storage.set_limit(spec)
