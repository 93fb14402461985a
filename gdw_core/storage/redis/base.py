"""Plumbing shared by the Redis storage's reading and writing halves: the client, the scripts,
the per-queue script arguments, the queue list and where a task id lives."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from redis.exceptions import ResponseError

from gdw_core.limits import DEFAULT_LIMITS, PayloadLimits, check_queue_name, read_limits, valid_queue_name
from gdw_core.storage.protocol import Retention
from gdw_core.storage.redis.address import RedisAddress
from gdw_core.storage.redis.connection import about_the_server, make_client
from gdw_core.storage.redis.keys import Keys
from gdw_core.storage.redis.lane import FastLane
from gdw_core.storage.redis.scripts import Call, Scripts
from gdw_core.storage.redis.sentinel import SwitchListener
from gdw_core.storage.redis.shielded import Shielded

log = logging.getLogger("gdw.redis")

#: how many task id -> queue entries a storage remembers before starting over
_WHERE_LIMIT = 200_000


class RedisBase:
    supports_local_callables = False

    def __init__(
        self,
        address: RedisAddress,
        *,
        namespace: str = "gdw",
        retention: Retention | None = None,
        client_options: dict[str, Any] | None = None,
        fast_lane: bool = True,
    ) -> None:
        self._address = address
        #: the submit limits its tasks were checked against; stored records are read back within
        #: these plus a little slack (gdw_core.limits.read_limits): anything bigger or deeper,
        #: written by hand or by an older version, fails alone as InvalidPayload
        self.payload_limits: PayloadLimits = DEFAULT_LIMITS
        self.fast_lane = fast_lane
        self._unreadable_workers: set[str] = set()  # worker records already reported unreadable
        self._read_limits: tuple[PayloadLimits, PayloadLimits] = (DEFAULT_LIMITS, read_limits(DEFAULT_LIMITS))
        self.address = address.label
        self.cluster = address.cluster
        self.retention = retention or Retention()
        self.keys = Keys(namespace)
        self._options = dict(client_options or {})
        self._client: Any = None
        #: a second fast-lane connection for "wait for work, then claim" (BLPOP + claim pipelined)
        self._blocking: FastLane | None = None
        #: Sentinel only: moves the client's connections when the sentinels announce a new master
        self.switches: SwitchListener | None = None
        self._scripts = Scripts(address.cluster)
        self._down = False
        self._common: dict[str, tuple[Any, ...]] = {}
        self._known: set[str] = set()  # queues this process registered in the queue list
        self._queue_cache: tuple[float, list[str]] = (0.0, [])
        self._where: dict[str, str] = {}  # task id -> queue, for calls that give only the id
        self._bad_names: set[str] = set()  # queue names in storage already logged as invalid
        #: what of a queue fails now because of its own keys (a key of another type): (queue, what)
        #: -> why; claims skip such a queue, outcomes are kept and sent again (docs/reliability.md)
        self._troubles: dict[tuple[str, str], str] = {}

    @property
    def read_limits(self) -> PayloadLimits:
        limits = self.payload_limits
        if self._read_limits[0] is not limits:
            self._read_limits = (limits, read_limits(limits))
        return self._read_limits[1]

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("RedisStorage is not open: call await storage.open() first")
        return self._client

    async def _connect(self) -> None:
        if self._client is None:
            self._client = Shielded(make_client(self._address, self._options))
            if self.cluster:
                await self._client.initialize()
            await self._client.ping()  # refused credentials / not Redis: a clear error now
            if self._address.sentinel is not None:
                self.switches = SwitchListener(self._client.connection_pool)
                self.switches.start()
            # scripts are loaded lazily, on the first NOSCRIPT (a read-only user can open and read)
            if self.fast_lane and not self.cluster and not self._address.url.startswith("rediss"):
                lane = FastLane(self._address.url)
                await lane.execute([("PING",)])
                self._scripts.lane = lane
                self._blocking = FastLane(self._address.url)

    async def _disconnect(self) -> None:
        if self.switches is not None:
            switches, self.switches = self.switches, None
            await switches.stop()
        if self._scripts.lane is not None:
            lane, self._scripts.lane = self._scripts.lane, None
            await lane.close()
        if self._blocking is not None:
            blocking, self._blocking = self._blocking, None
            await blocking.close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- per-queue script calls ---------------------------------------------------------------
    def _args(self, queue: str) -> tuple[Any, ...]:
        common = self._common.get(queue)
        if common is None:
            r = self.retention
            common = (self.keys.prefix(queue), queue, r.events, r.completed_count, r.failed_count)
            self._common[queue] = common
        return common

    def _global_args(self) -> tuple[Any, ...]:
        return (self.keys.g, "", self.retention.events, 0, 0)

    def _call(self, script: str, queue: str, key_suffix: str, *args: Any) -> Call:
        return Call(script, self.keys.prefix(queue) + key_suffix, (*self._args(queue), *args))

    async def _run(self, script: str, queue: str, key_suffix: str, *args: Any) -> Any:
        return await self._scripts.run(self.client, self._call(script, queue, key_suffix, *args))

    async def _run_many(self, calls: list[Call]) -> list[Any]:
        return await self._scripts.run_many(self.client, calls)

    async def _each_queue(
        self, what: str, queues: list[str], calls: list[Call], watched: bool = False
    ) -> list[tuple[str, Any]]:
        """One call per queue in one round trip; a queue whose call fails is logged and left out,
        the others' results are returned as (queue, result). ``watched`` (a periodic pass): a
        queue whose own keys make it fail is logged once and reported (failing_queues) until it
        works again."""
        out = []
        for queue, res in zip(queues, await self._scripts.run_each(self.client, calls), strict=True):
            if isinstance(res, Exception):
                if watched and isinstance(res, ResponseError) and not about_the_server(res):
                    self._queue_fails(queue, what, res, "the other queues proceed")
                else:
                    log.error("%s of queue %r failed (the other queues proceed): %s", what, queue, res)
                continue
            if watched:
                self._queue_works(queue, what)
            out.append((queue, res))
        return out

    # -- what of a queue fails because of its own keys ------------------------------------------
    @property
    def failing_queues(self) -> Mapping[str, str]:
        out: dict[str, str] = {}
        for (queue, _), why in sorted(self._troubles.items()):
            out.setdefault(queue, why)
        return out

    def _queue_fails(self, queue: str, what: str, exc: BaseException, meanwhile: str) -> None:
        """``what`` ("claims", "completions", "lease recovery", ...) of ``queue`` fails because of
        the queue's own keys: logged once (until it works again) and reported in failing_queues."""
        if (queue, what) not in self._troubles:
            hint = (
                ""
                if "gdw repair" in str(exc)
                else f"; if a key of the queue has the wrong type: gdw repair --queue {queue}"
            )
            log.error("%s in queue %r fail (%s): %s%s", what, queue, meanwhile, exc, hint)
        self._troubles[queue, what] = f"{what} fail: {exc}"[:300]

    def _queue_works(self, queue: str, what: str) -> None:
        if self._troubles and self._troubles.pop((queue, what), None) is not None:
            log.warning("%s in queue %r work again", what, queue)

    # -- queues and task locations ------------------------------------------------------------
    async def _register_queue(self, queue: str) -> None:
        check_queue_name(queue)
        if queue not in self._known:
            await self.client.sadd(self.keys.queues, queue)
            self._known.add(queue)

    async def _all_queues(self, fresh: bool = False) -> list[str]:
        at, cached = self._queue_cache
        if fresh or time.monotonic() - at > 1.0:
            try:
                names = await self.client.smembers(self.keys.queues)
            except ResponseError as exc:  # the queue list itself is not a set
                log.error("the queue list %s cannot be read: %s", self.keys.queues, exc)
                names = set()
            cached = self._valid_names(names)
            self._queue_cache = (time.monotonic(), cached)
        return sorted(set(cached) | self._known)

    def _valid_names(self, names: Any) -> list[str]:
        """The names that follow the queue-name grammar; each bad one is logged once, with why."""
        good = []
        for name in names:
            if valid_queue_name(name):
                good.append(name)
            elif name not in self._bad_names:
                self._bad_names.add(name)
                try:
                    check_queue_name(name)
                except Exception as exc:
                    log.error("skipping a queue stored under an invalid name: %s", exc)
        return good

    def _remember(self, task_id: str, queue: str) -> None:
        if len(self._where) >= _WHERE_LIMIT:
            self._where.clear()
        self._where[task_id] = queue

    async def _locate(self, task_id: str) -> str | None:
        """The queue of a task, or None when no queue has it."""
        queue = self._where.get(task_id)
        if queue is not None:
            return queue
        queues = await self._all_queues(fresh=True)
        if not queues:
            return None
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.exists(self.keys.task(q, task_id))
        found = await pipe.execute()
        for q, hit in zip(queues, found, strict=True):
            if hit:
                self._remember(task_id, q)
                return q
        return None
