"""RedisStorage: the distributed backend. Every state change is one Lua script (``scripts/``)
run with EVALSHA; batches are pipelined; "now" is Redis ``TIME``; each queue's keys share one hash
tag, so it runs on a single server and on Redis Cluster alike.

Delivery is at-least-once: a task whose worker dies is run again once its lease expires."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from gdw_core.codec import dumps
from gdw_core.errors import InvalidPayload, QueueFull, QueueRefused, TaskNotFound
from gdw_core.failure import describe
from gdw_core.lifecycle import STALE_BEATS, STALE_MIN, WORKER_HISTORY_MAX, WORKER_HISTORY_SECONDS
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry, tick_id
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Ack, Command, HeartbeatReply, Lease, Retention, Start
from gdw_core.storage.redis.address import parse_url
from gdw_core.storage.redis.bulk import RedisBulk
from gdw_core.storage.redis.connection import about_the_server, guarded
from gdw_core.storage.redis.encoding import enqueue_args, error_args, from_claim, static_json
from gdw_core.storage.redis.gathering import Gathering
from gdw_core.storage.redis.lane import FastLane, as_error
from gdw_core.storage.redis.limits import RedisLimits
from gdw_core.storage.redis.reader import RedisReader
from gdw_core.storage.redis.repair import RedisRepair
from gdw_core.storage.redis.scripts import Call
from gdw_core.storage.redis.workflow import RedisWorkflow
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.redis")

#: tasks per enqueue script call (a batch is several calls in one pipeline)
_ENQUEUE_CHUNK = 100
_NEW = (TaskStatus.PENDING, TaskStatus.SCHEDULED)
#: how long a worker record is kept after its last beat (the history window), milliseconds
_HISTORY_MS = int(WORKER_HISTORY_SECONDS * 1000)


#: how often claims poll when the blocking wait cannot block (a wake list of another type)
_POLL = 0.05

#: what each batched script writes, as the log and the worker's report name it
_OUTCOME = {
    "start": "start marks",
    "complete": "completions",
    "fail": "failures",
    "cancel_running": "cancellations",
    "release": "releases",
}


class RedisStorage(RedisWorkflow, RedisBulk, RedisRepair, RedisReader, RedisLimits):
    """``RedisStorage.from_url("redis://localhost:6379/0")``; see :func:`parse_url` for URLs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: concurrent single submits, sent together (gathering.py)
        self._gathering = Gathering(self._enqueue_flags)
        #: the error the blocking wait answered last (None: it blocks as it should)
        self._wait_refused: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str | None = None,
        retention: Retention | None = None,
        cluster: bool = False,
        fast_lane: bool = True,
        **client_options: Any,
    ) -> RedisStorage:
        """``url``: ``host:port``, ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS),
        ``unix:///path.sock``, ``redis+cluster://host:port`` (or ``cluster=True``) for Redis
        Cluster, ``redis+sentinel://h1:26379,h2:26379/SERVICE/DB`` for the master Sentinel names.
        ``fast_lane`` sends the script calls through one multiplexed connection (plain redis:// and
        unix:// only; see lane.py). ``client_options`` go to redis-py."""
        address = parse_url(url, cluster)
        options = client_options
        if address.sentinel is not None:  # the fast lane cannot follow a failover; redis-py's pool does
            fast_lane = False
        namespace = namespace or os.environ.get("GDW_NAMESPACE") or "gdw"  # the key prefix
        return cls(address, namespace=namespace, retention=retention, client_options=options, fast_lane=fast_lane)

    async def open(self) -> None:
        await self._open()

    @guarded
    async def _open(self) -> None:
        await self._connect()

    async def close(self) -> None:
        await self._disconnect()

    @guarded
    async def eviction_policy(self) -> str | None:
        """Redis's maxmemory-policy (None if CONFIG is not allowed). gdw needs ``noeviction``."""
        try:
            reply = await self.client.config_get("maxmemory-policy")
        except Exception:  # managed Redis / ACLs may forbid CONFIG
            return None
        if isinstance(reply, dict) and reply and isinstance(next(iter(reply.values())), dict):
            reply = next(iter(reply.values()))  # Cluster: one reply per node
        value = reply.get("maxmemory-policy") if isinstance(reply, dict) else None
        return None if value is None else str(value)

    # -- producing ---------------------------------------------------------------------------
    @guarded
    async def enqueue(self, records: Sequence[TaskRecord], max_waiting: int | None = None) -> list[bool]:
        if not records:
            return []
        limit = "" if max_waiting is None else int(max_waiting)
        if len(records) == 1:  # one submit: no batching machinery
            flag = await self._enqueue_one(records[0], limit)
            if flag == -1:
                raise QueueFull(records[0].queue, int(limit or 0))
            return [flag == 1]
        flags = await self._enqueue_flags(records, limit)
        full = next((rec for rec, flag in zip(records, flags, strict=True) if flag == -1), None)
        if full is not None:  # (every chunk ran: one that found room after a full one enqueued too)
            raise QueueFull(full.queue, int(limit or 0), [r.id for r, f in zip(records, flags, strict=True) if f == 1])
        return [flag == 1 for flag in flags]

    async def _enqueue_one(self, rec: TaskRecord, limit: str | int) -> Any:
        """One submit: sent at once in its own script call (on the fast lane when there is one),
        or, while another single submit is on its way, with the next group of its queue
        (gathering.py). Its flag (see enqueue.lua)."""
        if rec.status not in _NEW:
            raise ValueError(f"a new task is pending or scheduled, not {rec.status}")
        queue = rec.queue
        if queue not in self._known:
            await self._register_queue(queue)
        gathering = self._gathering
        if gathering.in_flight:
            self._remember(rec.id, queue)
            return await gathering.join(rec, limit)
        gathering.in_flight += 1
        try:
            lane = self._scripts.lane
            if lane is not None:
                call = Call("enqueue", self.keys.prefix(queue) + "p", (*self._args(queue), *enqueue_args(rec), limit))
                fut = lane.request(self._scripts.evalsha(call))
                if fut is not None:
                    self._remember(rec.id, queue)
                    reply = await fut
                    if isinstance(reply, ResponseError):  # e.g. the library not loaded yet: load, send again
                        reply = (await self._scripts._finish(lane, self.client, [call], [as_error(reply)]))[0]
                    return reply[0]
            return (await self._enqueue_flags([rec], limit))[0]  # (connects the fast lane first)
        finally:
            gathering.in_flight -= 1

    async def _enqueue_flags(self, records: Sequence[TaskRecord], limit: str | int) -> list[Any]:
        """Every record in enqueue calls of up to _ENQUEUE_CHUNK tasks of one queue, streamed in
        one round trip; enqueue.lua's flag per record."""
        for rec in records:
            if rec.status not in _NEW:
                raise ValueError(f"a new task is pending or scheduled, not {rec.status}")
        for queue in dict.fromkeys(r.queue for r in records):
            await self._register_queue(queue)

        def calls() -> Iterator[Call]:  # built while Redis already runs the previous ones
            i = 0
            while i < len(records):
                queue = records[i].queue
                args: list[Any] = []
                n = 0
                while i < len(records) and records[i].queue == queue and n < _ENQUEUE_CHUNK:
                    rec = records[i]
                    args.extend(enqueue_args(rec))
                    self._remember(rec.id, queue)
                    i += 1
                    n += 1
                args.append(limit)
                yield self._call("enqueue", queue, "p", *args)

        results = await self._scripts.run_stream(self.client, calls())
        return [flag for flags in results for flag in flags]

    # -- working -----------------------------------------------------------------------------
    async def _claim_queue(
        self, worker_id: str, queue: str, count: int, lease: float
    ) -> tuple[list[Lease], float | None]:
        reply = await self._run("claim", queue, "p", worker_id, count, repr(float(lease)), self.limit_prefix(queue))
        return await self._claimed(worker_id, queue, reply, lease)

    async def _claimed(
        self, worker_id: str, queue: str, reply: list[Any], lease: float
    ) -> tuple[list[Lease], float | None]:
        """Leases from a claim.lua reply. An entry whose payload passed the script's checks but
        cannot be decoded here (bad JSON, too deep, wrong field types) is failed with an
        InvalidPayload error and not handed out; the other leases of the batch are kept."""
        next_due = float(reply[0]) if reply[0] else None
        leases: list[Lease] = []
        broken: list[tuple[str, int, int, InvalidPayload]] = []
        not_utf8 = await self._not_utf8(queue, reply)
        for j in range(1, len(reply), 6):
            task_id, token, deadline = reply[j], int(reply[j + 1]), float(reply[j + 2])
            self._remember(task_id, queue)
            if task_id in not_utf8:
                problem = InvalidPayload(f"task {task_id}: the payload is not valid UTF-8")
                broken.append((task_id, token, int(reply[j + 4]), problem))
                continue
            try:
                rec = from_claim(
                    task_id, reply[j + 3], int(reply[j + 4]), reply[j + 5], worker_id, deadline, self.read_limits
                )
            except InvalidPayload as exc:
                broken.append((task_id, token, int(reply[j + 4]), exc))
                continue
            leases.append(Lease(rec, token, deadline))
        for task_id, token, attempt, problem in broken:  # hand-written / corrupted entries fail here
            log.error("task %s in queue %s cannot be read; failing it: %s", task_id, queue, problem)
            try:
                await self._fail_in(queue, task_id, token, describe(problem, attempt, worker_id), None)
            except Exception as exc:  # its lease expires and recovery records it: the batch stands
                log.error("could not record task %s as failed: %s", task_id, exc)
        return leases, next_due

    async def _not_utf8(self, queue: str, reply: list[Any]) -> set[str]:
        """The ids of a claim.lua reply whose stored payload is not valid UTF-8. Replies are decoded
        with errors="replace", so a payload without U+FFFD was valid (the common case costs one
        search of each payload); one with it is read again as bytes and checked exactly (a task
        may carry U+FFFD itself)."""
        suspects = [reply[j] for j in range(1, len(reply), 6) if "\ufffd" in reply[j + 3]]
        bad: set[str] = set()
        for task_id in suspects:
            raw = await self.client.execute_command("HGET", self.keys.task(queue, task_id), "d", NEVER_DECODE=True)
            try:
                bytes(raw or b"").decode("utf-8")
            except UnicodeDecodeError:
                bad.add(task_id)
        return bad

    @guarded
    async def claim(self, worker_id: str, queues: Sequence[str], count: int, lease: float, wait: float) -> list[Lease]:
        if count <= 0 or not queues:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        wake_keys = [self.keys.prefix(q) + "wake" for q in queues]
        if self.cluster:
            wake_keys = wake_keys[:1]  # BLPOP cannot span slots; other queues are polled
        while True:
            got: list[Lease] = []
            soonest: float | None = None
            failed: list[tuple[str, ResponseError]] = []
            for q in queues:
                try:
                    leases, next_due = await self._claim_queue(worker_id, q, count - len(got), lease)
                except ResponseError as exc:  # this queue's keys: the other queues still claim
                    if about_the_server(exc):  # (a failover, out of memory: every queue's, raised)
                        raise
                    failed.append((q, exc))
                    continue
                self._claimed_again(q)
                got.extend(leases)
                if next_due is not None:
                    soonest = next_due if soonest is None else min(soonest, next_due)
                if len(got) >= count:
                    break
            for q, why in failed:
                self._claim_failed(q, why)
            if failed and len(failed) == len(queues):
                raise failed[0][1]
            remaining = deadline - loop.time()
            if got or remaining <= 0:
                return got
            if soonest is not None:
                remaining = min(remaining, max(0.001, soonest))
            if self.cluster and len(queues) > 1:
                remaining = min(remaining, 0.05)
            # block until an enqueue / promote / release pushes a wake token (no polling interval)
            timeout = max(0.001, min(remaining, 5.0))
            if self._blocking is None:
                try:
                    self._waited(wake_keys, await self.client.blpop(wake_keys, timeout=timeout))
                except ResponseError as exc:  # (a wake list of another type: poll meanwhile)
                    if about_the_server(exc):
                        raise
                    self._waited(wake_keys, exc)
                    await asyncio.sleep(min(remaining, _POLL))
                continue
            # the claim sent behind the BLPOP is the first queue's that claimed without an error
            bad = {f for f, _ in failed}
            first = next(q for q in queues if q not in bad)
            call = self._call("claim", first, "p", worker_id, count, repr(float(lease)), self.limit_prefix(first))
            try:
                reply = await self._wait_then_claim(self._blocking, wake_keys, timeout, call)
            except ResponseError as exc:  # its keys turned bad meanwhile: the next round says so
                if about_the_server(exc):
                    raise
                self._claim_failed(first, exc)
                continue
            leases, _ = await self._claimed(worker_id, first, reply, lease)
            if leases:
                return leases
            if self._wait_refused is not None:  # BLPOP answered an error at once: poll, never spin
                await asyncio.sleep(min(max(0.0, deadline - loop.time()), _POLL))

    def _claim_failed(self, queue: str, exc: ResponseError) -> None:
        self._queue_fails(queue, "claims", exc, "the other queues are claimed meanwhile")

    def _claimed_again(self, queue: str) -> None:
        self._queue_works(queue, "claims")

    async def _wait_then_claim(self, lane: FastLane, wake_keys: list[str], timeout: float, call: Call) -> Any:
        """BLPOP and the claim script pipelined on one connection: Redis runs the claim the moment
        the BLPOP returns, so a woken worker has its tasks after a single round trip."""
        futs = await lane.send([("BLPOP", *wake_keys, f"{timeout:.3f}"), self._scripts.evalsha(call)])
        try:
            self._waited(wake_keys, await futs[0])
            reply = await futs[1]
        except asyncio.CancelledError:
            if not futs[0].done():
                lane.abort()  # still waiting: Redis drops the queued claim with the connection
            else:  # the claim already ran: hand its tasks back, attempt not counted
                await self._give_back(futs[1], call)
            raise
        if isinstance(reply, ResponseError):
            reply = as_error(reply)
        if isinstance(reply, NoScriptError):  # not loaded yet (or FCALL refused): load and run again
            return await self._scripts.run(self.client, call)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _waited(self, wake_keys: list[str], answer: Any) -> None:
        """What the blocking wait answered: an error (a wake list of another type, written by hand)
        means claims poll (every _POLL s) until a write to that list makes it a list again."""
        if isinstance(answer, ResponseError) and not about_the_server(answer):
            if self._wait_refused is None:
                log.error(
                    "waiting for work on %s fails (%s): claiming every %.0f ms instead until the wake list is a "
                    "list again (the next task submitted makes it so)",
                    ", ".join(wake_keys), answer, _POLL * 1000,
                )  # fmt: skip
            self._wait_refused = str(answer)
        elif self._wait_refused is not None:
            log.warning("waiting for work on %s works again", ", ".join(wake_keys))
            self._wait_refused = None

    async def _give_back(self, fut: asyncio.Future[Any], call: Call) -> None:
        try:
            reply = await asyncio.wait_for(asyncio.shield(fut), 5.0)
            if isinstance(reply, list):
                for j in range(1, len(reply), 6):
                    await self.release(reply[j], int(reply[j + 1]), None)
        except Exception as exc:  # the leases expire and are recovered: at-least-once
            log.warning("could not hand back a claim interrupted by shutdown: %s", exc)

    def _by_queue(self, task_ids: Sequence[str]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, task_id in enumerate(task_ids):
            queue = self._where.get(task_id)
            if queue is not None:
                groups.setdefault(queue, []).append(i)
        return groups

    async def _batched(self, script: str, task_ids: Sequence[str], args_of: Any) -> list[bool | None]:
        """One script call per queue (chunks of _ENQUEUE_CHUNK items) in one round trip; per item
        True when the script returned 1, False when it refused the item (stale token, unreadable
        record). A call that raised gives None for its items only: nothing of it was written, send
        it again. When the error is the queue's own keys (an index of the wrong type, not the
        server's state) the queue is reported failing until a call of it lands again."""
        out: list[bool | None] = [False] * len(task_ids)
        for task_id in task_ids:
            if task_id not in self._where:
                await self._locate(task_id)
        calls, order = [], []
        for queue, idx in self._by_queue(task_ids).items():
            for start in range(0, len(idx), _ENQUEUE_CHUNK):
                part = idx[start : start + _ENQUEUE_CHUNK]
                args: list[Any] = []
                for i in part:
                    args.extend(args_of(i))
                calls.append(self._call(script, queue, "c" if script == "complete" else "r", *args))
                order.append((queue, part))
        for (queue, part), flags in zip(order, await self._scripts.run_each(self.client, calls), strict=True):
            if isinstance(flags, Exception):
                self._outcome_failed(queue, script, len(part), flags)
                for i in part:
                    out[i] = None
                continue
            self._outcome_landed(queue, script)
            for i, flag in zip(part, flags, strict=True):
                out[i] = flag == 1
        return out

    def _outcome_landed(self, queue: str, script: str) -> None:
        self._queue_works(queue, _OUTCOME[script])

    async def _outcome(self, script: str, queue: str, task_id: str, *args: Any) -> Any:
        """A worker's single outcome (fail, cancel_running, release): an error that the queue's own
        keys caused raises QueueRefused (the worker keeps it) and reports the queue failing."""
        try:
            reply = await self._run(script, queue, "t:" + task_id, task_id, *args)
        except ResponseError as exc:
            if about_the_server(exc):
                raise
            self._outcome_failed(queue, script, 1, exc)
            raise QueueRefused(queue, f"{_OUTCOME[script]} in queue {queue!r} fail: {exc}") from exc
        self._outcome_landed(queue, script)
        return reply

    def _outcome_failed(self, queue: str, script: str, n: int, exc: Exception) -> None:
        what = _OUTCOME[script]
        if isinstance(exc, ResponseError) and about_the_server(exc):  # (a failover, out of memory)
            log.warning("%s of %d task(s) in queue %r not written (%s); sending them again", what, n, queue, exc)
            return
        self._queue_fails(queue, what, exc, "the worker keeps them and sends them again until they land")

    @guarded
    async def start(self, marks: Sequence[Start]) -> list[bool | None]:
        if not marks:
            return []

        def args_of(i: int) -> tuple[Any, ...]:
            m = marks[i]
            mx = "" if m.max_retries is None else int(m.max_retries)
            return (m.task_id, int(m.token), repr(float(m.started_ago)), mx)

        return await self._batched("start", [m.task_id for m in marks], args_of)

    @guarded
    async def complete(self, acks: Sequence[Ack]) -> list[bool | None]:
        if not acks:
            return []
        encoded: list[str | None] = []
        for ack in acks:
            try:
                encoded.append(dumps(ack.result, f"result of task {ack.task_id}"))
            except (InvalidPayload, RecursionError) as exc:
                encoded.append(None)
                log.error("task %s returned a result that cannot be stored; failing it: %s", ack.task_id, exc)
                problem = exc
                if not isinstance(exc, InvalidPayload):
                    problem = InvalidPayload(f"result of task {ack.task_id} is nested too deep to encode")
                try:
                    await self.fail(ack.task_id, ack.token, describe(problem, 0, None), None)
                except Exception as exc2:  # its lease expires and recovery records it
                    log.error("could not record task %s as failed: %s", ack.task_id, exc2)
        good = [i for i, e in enumerate(encoded) if e is not None]

        def args_of(j: int) -> tuple[Any, ...]:
            ack = acks[good[j]]
            return (ack.task_id, int(ack.token), encoded[good[j]], repr(float(ack.started_ago)))

        flags = await self._batched("complete", [acks[i].task_id for i in good], args_of)
        out: list[bool | None] = [False] * len(acks)
        for j, i in enumerate(good):
            out[i] = flags[j]
        return out

    async def _fail_in(
        self, queue: str, task_id: str, token: int, error: AttemptError, retry_delay: float | None
    ) -> TaskStatus | None:
        prefix, at = error_args(error)
        delay = "" if retry_delay is None else repr(float(retry_delay))
        status = await self._outcome("fail", queue, task_id, token, prefix, at, error.type, delay)
        return TaskStatus(status) if status else None

    @guarded
    async def fail(self, task_id: str, token: int, error: AttemptError, retry_delay: float | None) -> TaskStatus | None:
        queue = await self._locate(task_id)
        if queue is None:
            return None
        return await self._fail_in(queue, task_id, token, error, retry_delay)

    @guarded
    async def cancel_running(self, task_id: str, token: int, error: AttemptError) -> bool:
        queue = await self._locate(task_id)
        if queue is None:
            return False
        prefix, at = error_args(error)
        done = await self._outcome("cancel_running", queue, task_id, token, prefix, at, error.type)
        return bool(done)

    @guarded
    async def release(self, task_id: str, token: int, error: AttemptError | None) -> bool:
        queue = await self._locate(task_id)
        if queue is None:
            return False
        # a release never spends the attempt: its note says so (counted=False)
        note = dataclasses.replace(error, counted=False) if error is not None else None
        prefix, at = error_args(note) if note is not None else ("", "")
        return bool(await self._outcome("release", queue, task_id, token, prefix, at))

    @guarded
    async def progress(self, task_id: str, token: int, value: Any) -> bool:
        queue = await self._locate(task_id)
        if queue is None:
            return False
        payload = dumps(value, "progress")
        return bool(await self._run("progress", queue, "t:" + task_id, task_id, token, payload))

    @guarded
    async def heartbeat(self, info: WorkerInfo, held: Mapping[str, int], lease: float) -> HeartbeatReply:
        by_queue: dict[str, list[Any]] = {}
        lost: set[str] = set()
        for task_id, token in held.items():
            queue = self._where.get(task_id) or await self._locate(task_id)
            if queue is None:
                lost.add(task_id)
                continue
            by_queue.setdefault(queue, []).extend((task_id, token))
        cursor = f"{int(info.started_at * 1000)}-0" if info.started_at > 0 else "0-0"
        beat_args = (
            *self._global_args(),
            info.id,
            dumps(info.to_dict()),
            _HISTORY_MS,
            cursor,
            WORKER_HISTORY_SECONDS,
            WORKER_HISTORY_MAX,
            STALE_BEATS,
            STALE_MIN,
        )
        calls = [Call("worker_beat", self.keys.workers, beat_args)]
        calls += [self._call("heartbeat", q, "r", repr(float(lease)), *pairs) for q, pairs in by_queue.items()]
        replies = await self._scripts.run_each(self.client, calls)
        beat = replies[0]
        if isinstance(beat, Exception):
            raise beat
        info.last_seen = float(beat[0])
        npaused = int(beat[1])
        paused = frozenset(beat[2 : 2 + npaused])
        commands = []
        rest = beat[2 + npaused :]
        for j in range(0, len(rest), 2):
            try:
                command = Command.from_dict(_json_object(rest[j + 1]))
            except (InvalidPayload, ValueError, TypeError):
                log.warning("ignoring a malformed command %s: %r", rest[j], rest[j + 1][:200])
                continue
            if command.worker is None or command.worker == info.id:
                commands.append(command)
        cancel: set[str] = set()
        for (queue, pairs), reply in zip(by_queue.items(), replies[1:], strict=True):
            if isinstance(reply, Exception):  # that queue's leases are not extended this time
                log.error("lease extension in queue %r failed (%d task(s)): %s", queue, len(pairs) // 2, reply)
                continue
            nlost = int(reply[1])
            lost.update(reply[2 : 2 + nlost])
            cancel.update(reply[2 + nlost :])
        return HeartbeatReply(frozenset(lost), frozenset(cancel), tuple(commands), paused)

    @guarded
    async def remove_worker(self, worker_id: str) -> None:
        """The record stays, as history, with state "stopped" (see worker_stop.lua)."""
        args = (*self._global_args(), worker_id, _HISTORY_MS)
        await self._scripts.run(self.client, Call("worker_stop", self.keys.workers, args))

    # -- time-driven -------------------------------------------------------------------------
    @guarded
    async def promote_due(self, limit: int = 1000) -> float | None:
        queues = await self._all_queues()
        calls = [self._call("promote", q, "ds", limit) for q in queues]
        due = [float(r) for _, r in await self._each_queue("promotion", queues, calls, watched=True) if r]
        return min(due) if due else None

    @guarded
    async def recover_expired(self, limit: int = 1000) -> list[str]:
        queues = await self._all_queues()
        calls = [self._call("recover", q, "r", limit) for q in queues]
        return [
            task_id
            for _, ids in await self._each_queue("lease recovery", queues, calls, watched=True)
            for task_id in ids
        ]

    @guarded
    async def purge_expired(self) -> int:
        r = self.retention
        queues = await self._all_queues()
        calls = [self._call("purge", q, "c", r.completed_ttl, r.failed_ttl, 10_000) for q in queues]
        return sum(int(n) for _, n in await self._each_queue("purge", queues, calls, watched=True))

    @guarded
    async def fire_recurring(self, limit: int = 100) -> list[str]:
        queues = await self._all_queues()
        if not queues:
            return []
        now = await self.now()  # the script re-checks due-ness against its own TIME
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.zrange(self.keys.prefix(q) + "recdue", 0, limit - 1, withscores=True)
        due: list[tuple[str, str, float]] = []
        for q, rows in zip(queues, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(rows, Exception):
                log.error("recurring schedule of queue %r cannot be read (other queues proceed): %s", q, rows)
                continue
            due.extend((q, entry_id, tick) for entry_id, tick in rows if tick <= now)
        created: list[str] = []
        for q, entry_id, tick in due[:limit]:
            try:
                task_id = await self._fire_one(q, entry_id, tick, now)
            except ResponseError as exc:  # one bad entry or queue: logged, the rest fire
                log.error("recurring entry %s of queue %r could not fire: %s", entry_id, q, exc)
                continue
            if task_id is not None:
                created.append(task_id)
        return created

    async def _fire_one(self, q: str, entry_id: str, tick: float, now: float) -> str | None:
        raw = await self.client.hget(self.keys.prefix(q) + "rec", entry_id)
        if raw is None:
            return None
        try:
            entry = RecurringEntry.from_dict(_json_object(raw))
            following = entry.following(tick, now)
            task_id = tick_id(entry.id, tick)
            rec = TaskRecord(
                id=task_id,
                name=entry.name,
                args=list(entry.args),
                kwargs=dict(entry.kwargs),
                queue=q,
                recurring_id=entry.id,
                **entry.task_options,
            )
            payload = static_json(rec)
        except (InvalidPayload, ValueError, TypeError, KeyError, RecursionError) as exc:
            log.error("recurring entry %s is malformed (%s); removing its schedule", entry_id, exc)
            await self._run("recurring_remove", q, "rec", entry_id)
            return None
        fired = await self._run(
            "fire_recurring",
            q,
            "recdue",
            entry_id,
            repr(float(tick)),
            repr(float(following)),
            task_id,
            payload,
            rec.name,
            int(rec.priority),
            int(rec.max_retries),
        )
        if fired == 1:
            self._remember(task_id, q)
            return task_id
        return None

    # -- control -----------------------------------------------------------------------------
    @guarded
    async def cancel(self, task_id: str) -> TaskStatus:
        queue = await self._locate(task_id)
        status = await self._run("cancel", queue, "t:" + task_id, task_id) if queue is not None else ""
        if not status:
            raise TaskNotFound(task_id)
        return TaskStatus(status)

    @guarded
    async def retry_now(self, task_id: str) -> bool:
        queue = await self._locate(task_id)
        moved = await self._run("retry_now", queue, "t:" + task_id, task_id) if queue is not None else -1
        if moved == -1:
            raise TaskNotFound(task_id)
        return moved == 1

    @guarded
    async def set_paused(self, queue: str, paused: bool) -> None:
        await self._register_queue(queue)
        await self._run("pause", queue, "paused", "1" if paused else "0")
        if paused:
            await self.client.sadd(self.keys.paused, queue)
        else:
            await self.client.srem(self.keys.paused, queue)

    @guarded
    async def send_command(self, command: Command) -> None:
        args = (*self._global_args(), dumps(command.to_dict()), command.kind, command.worker or "")
        await self._scripts.run(self.client, Call("command", self.keys.commands, args))

    @guarded
    async def add_recurring(self, entry: RecurringEntry) -> bool:
        await self._register_queue(entry.queue)
        payload = dumps(entry.to_dict(), f"recurring entry {entry.id}")
        created = await self._run("recurring_add", entry.queue, "rec", entry.id, payload, repr(float(entry.next_run)))
        return bool(created)

    @guarded
    async def remove_recurring(self, entry_id: str) -> bool:
        queues = await self._all_queues(fresh=True)
        calls = [self._call("recurring_remove", q, "rec", entry_id) for q in queues]
        return any(int(r) for _, r in await self._each_queue("recurring removal", queues, calls))


def _json_object(raw: str) -> dict[str, Any]:
    from gdw_core.codec import loads

    data = loads(raw)
    if not isinstance(data, dict):
        raise InvalidPayload("expected a JSON object")
    return data
