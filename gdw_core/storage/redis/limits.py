"""Named limits in Redis (gdw_core.flow): defining, removing and listing them. Admission itself
is decided inside claim.lua (the prelude's flow section), with Redis ``TIME``.

Where the keys live (``LP``, the limit key prefix): on one Redis or Sentinel, under the namespace
(``<ns>:{<ns>}:g:lim:``), so a limit is global across queues. On Redis Cluster a script may only
touch its queue's slot, so the keys live under each queue's prefix (``<ns>:{<queue>}:lim:``): a
limit is per queue, :meth:`set_limit` writes the definition into every queue known at that time,
and :meth:`limits` adds up the use over the queues."""

from __future__ import annotations

import logging
from typing import Any

from gdw_core.flow import gcra
from gdw_core.flow.limit import InvalidLimit, LimitSpec, LimitUse, check_limit_name
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.scripts import Call

log = logging.getLogger("gdw.redis")


class RedisLimits(RedisBase):
    def limit_prefix(self, queue: str) -> str:
        """LP for claims from ``queue`` (see the module docstring)."""
        return self.keys.prefix(queue) + "lim:" if self.cluster else self.keys.g + "lim:"

    async def _limit_places(self) -> list[tuple[str, tuple[Any, ...], str]]:
        """(LP, common script arguments, routing prefix) for each place definitions live."""
        if not self.cluster:
            return [(self.keys.g + "lim:", self._global_args(), self.keys.g + "lim:")]
        return [(self.limit_prefix(q), self._args(q), self.limit_prefix(q)) for q in await self._all_queues(fresh=True)]

    @guarded
    async def set_limit(self, spec: LimitSpec) -> None:
        f = spec.to_fields()
        rate = str(spec.rate) if spec.rate else ""
        for lp, common, _ in await self._limit_places():
            args = (*common, lp, spec.name, f["n"], f["per"], f["b"], f["c"], rate)
            await self._scripts.run(self.client, Call("limit_set", lp + "def:" + spec.name, args))

    @guarded
    async def remove_limit(self, name: str) -> bool:
        check_limit_name(name)
        removed = False
        for lp, common, _ in await self._limit_places():
            args = (*common, lp, name)
            removed = bool(await self._scripts.run(self.client, Call("limit_rm", lp + "def:" + name, args))) or removed
        return removed

    @guarded
    async def limits(self) -> list[LimitUse]:
        sec, usec = await self.client.time()
        now = float(sec) + float(usec) / 1e6
        uses: dict[str, LimitUse] = {}
        for lp, _, _ in await self._limit_places():
            for name in sorted(await self.client.smembers(lp + "names")):
                use = await self._use(lp, name, now)
                if use is None:
                    continue
                seen = uses.get(name)
                if seen is not None:  # Cluster: the same limit in another queue's slot
                    use = LimitUse(
                        seen.spec,
                        seen.holding + use.holding,
                        max(seen.next_start_in, use.next_start_in),
                        seen.waiting + use.waiting,
                    )
                uses[name] = use
        return [uses[n] for n in sorted(uses)]

    async def _use(self, lp: str, name: str, now: float) -> LimitUse | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(lp + "def:" + name)
        pipe.zcount(lp + "h:" + name, f"({now!r}", "+inf")
        pipe.get(lp + "g:" + name)
        pipe.zcard(lp + "w:" + name)
        fields, holding, tat, waiting = await pipe.execute(raise_on_error=False)
        if not isinstance(fields, dict) or not fields:
            return None
        try:
            spec = LimitSpec.from_fields(name, fields)
        except InvalidLimit as exc:
            log.error("%s", exc)
            return None
        try:
            wait = gcra.wait_for(float(tat), now, spec.tolerance) if tat and spec.rate else 0.0
        except (TypeError, ValueError):
            wait = 0.0
        return LimitUse(
            spec,
            holding if isinstance(holding, int) else 0,
            wait,
            waiting if isinstance(waiting, int) else 0,
        )
