"""Named limits in Redis (gdw_core.flow): defining, removing and listing them. Admission itself
is decided inside claim.lua (scripts/_flow.lua), with Redis ``TIME``.

Where the keys live (``LP``, the limit key prefix): on one Redis or Sentinel, under the namespace
(``<ns>:{<ns>}:g:lim:``), so a limit is global across queues. On Redis Cluster a script may only
touch its queue's slot, so the keys live under each queue's prefix (``<ns>:{<queue>}:lim:``): a
limit is per queue. The definitions are also kept under the namespace; :meth:`set_limit` writes
them into every known queue, a queue new to a process gets them copied when it is registered, and
:meth:`limits` adds up the use over the queues."""

from __future__ import annotations

import logging
from typing import Any

from gdw_core.flow import gcra
from gdw_core.flow.limit import LimitSpec, LimitUse, check_limit_name
from gdw_core.flow.rate import InvalidLimit
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.scripts import Call

log = logging.getLogger("gdw.redis")


class RedisLimits(RedisBase):
    def limit_prefix(self, queue: str) -> str:
        """LP for claims from ``queue`` (see the module docstring)."""
        return self.keys.prefix(queue) + "lim:" if self.cluster else self.keys.g + "lim:"

    async def _limit_places(self, with_global: bool = True) -> list[tuple[str, tuple[Any, ...]]]:
        """(LP, common script arguments) of each place definitions live."""
        places = [(self.keys.g + "lim:", self._global_args())] if with_global or not self.cluster else []
        if self.cluster:
            places += [(self.limit_prefix(q), self._args(q)) for q in await self._all_queues(fresh=True)]
        return places

    async def _register_queue(self, queue: str) -> None:
        new = queue not in self._known
        await super()._register_queue(queue)
        if new and self.cluster:  # the queue's slot gets the namespace's definitions
            lp = self.keys.g + "lim:"
            for name in await self.client.smembers(lp + "names"):
                fields = await self.client.hgetall(lp + "def:" + name)
                try:
                    spec = LimitSpec.from_fields(name, fields)
                except InvalidLimit as exc:
                    log.error("not copying limit %r into queue %r: %s", name, queue, exc)
                    continue
                await self._write(self.limit_prefix(queue), self._args(queue), spec)

    async def _write(self, lp: str, common: tuple[Any, ...], spec: LimitSpec) -> None:
        f = spec.to_fields()
        rate = str(spec.rate) if spec.rate else ""
        args = (*common, lp, spec.name, f["n"], f["per"], f["b"], f["c"], rate)
        await self._scripts.run(self.client, Call("limit_set", lp + "def:" + spec.name, args))

    @guarded
    async def set_limit(self, spec: LimitSpec) -> None:
        for lp, common in await self._limit_places():
            await self._write(lp, common, spec)

    @guarded
    async def remove_limit(self, name: str) -> bool:
        check_limit_name(name)
        removed = False
        for lp, common in await self._limit_places():
            args = (*common, lp, name)
            removed = bool(await self._scripts.run(self.client, Call("limit_rm", lp + "def:" + name, args))) or removed
        return removed

    @guarded
    async def limits(self) -> list[LimitUse]:
        sec, usec = await self.client.time()
        now = float(sec) + float(usec) / 1e6
        uses: dict[str, LimitUse] = {}
        places = await self._limit_places(with_global=False) or await self._limit_places()
        for lp, _ in places:
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

    @guarded
    async def unique_holder(self, queue: str, unique_key: str) -> str | None:
        holder = await self.client.get(self.keys.prefix(queue) + "u:" + unique_key)
        if not isinstance(holder, str) or not await self.client.exists(self.keys.task(queue, holder)):
            return None
        self._remember(holder, queue)
        return holder
