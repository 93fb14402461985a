"""The worker's outcome writes: retried until the lease deadline, never looping on a refused item,
abandoned (with a log line) when a graceful stop runs out of time; drains do not spend attempts;
hooks see everything and a raising hook loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gdw_core.context import TaskContext
from gdw_core.hooks import Hooks, Outcome
from gdw_core.queue import TaskQueue
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.registry import task
from gdw_core.retry import RetryPolicy
from gdw_core.status import TaskStatus as S
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Ack, Start
from gdw_core.workerinfo import WorkerInfo


class Flaky(MemoryStorage):
    """complete() raises ConnectionError ``outages`` times, or always when ``outages`` < 0;
    ``refuse`` makes it answer False for every ack."""

    def __init__(self, outages: int = 0, refuse: bool = False) -> None:
        super().__init__()
        self.outages = outages
        self.refuse = refuse
        self.calls = 0

    async def complete(self, acks: Sequence[Ack]) -> list[bool]:
        self.calls += 1
        if self.outages != 0:
            self.outages -= 1
            raise ConnectionError("storage unreachable (test)")
        if self.refuse:
            return [False for _ in acks]
        return await super().complete(acks)


async def quick(n: int) -> int:
    return n


async def forever() -> None:
    await asyncio.sleep(3600)


async def test_a_failed_ack_is_retried_until_it_lands() -> None:
    storage = Flaky(outages=3)
    seen: list[str] = []

    class Errors(Hooks):
        def on_storage_error(self, operation: str, error: BaseException) -> None:
            seen.append(operation)

    async with TaskQueue(worker_count=1, storage=storage, hooks=[Errors()], lease=5.0) as q:
        tid = await q.submit(quick, 7)
        assert await q.result(tid, 10) == 7
    assert seen.count("complete") == 3


async def test_a_refused_ack_is_dropped_not_retried_forever() -> None:
    storage = Flaky(refuse=True)
    async with TaskQueue(worker_count=1, storage=storage, lease=5.0) as q:
        await q.submit(quick, 1)
        worker = q.worker
        assert worker is not None
        for _ in range(500):
            if worker.outcomes.refused:
                break
            await asyncio.sleep(0.01)
        calls = storage.calls
        await asyncio.sleep(0.2)
        assert worker.outcomes.refused == 1 and worker.outcomes.pending() == 0
        assert storage.calls == calls  # no retry loop


async def test_graceful_stop_abandons_unsendable_outcomes_in_time() -> None:
    storage = Flaky(outages=-1)
    q = TaskQueue(worker_count=1, storage=storage, lease=30.0)
    await q.start()
    tid = await q.submit(quick, 1)
    worker = q.worker
    assert worker is not None
    while storage.calls == 0:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(q.shutdown(timeout=0.2), 30)  # guard only: it must return
    took = loop.time() - began
    assert worker.outcomes.abandoned == 1
    assert took < 30.0 - 1.0  # never waits for the 30 s lease
    rec = await storage.get(tid)
    assert rec is not None and rec.status in (S.CLAIMED, S.RUNNING)  # left for lease recovery


async def test_a_graceful_drain_does_not_spend_an_attempt() -> None:
    storage = MemoryStorage()
    q = TaskQueue(worker_count=1, storage=storage, buffer_size=3, lease=5.0)
    await q.start()
    running = await q.submit(forever)
    while (await q.status(running)).status is not S.RUNNING:
        await asyncio.sleep(0.01)
    waiting = [await q.submit(quick, i) for i in range(2)]
    await asyncio.sleep(0.1)  # the worker claims them ahead into its buffer
    await q.shutdown(timeout=0.1)
    rec = await storage.get(running)
    assert rec is not None and rec.status is S.RETRYING
    assert rec.attempts == 0  # given back
    assert rec.errors[-1].type == "Interrupted" and rec.errors[-1].counted is False
    for tid in waiting:
        buffered = await storage.get(tid)
        assert buffered is not None and buffered.status is S.PENDING and buffered.attempts == 0


@task(name="tests.unit.test_worker_outcomes:budgeted", retry=RetryPolicy(max_retries=5, base_delay=0.01))
async def budgeted() -> str:
    return "ok"


async def test_the_start_mark_carries_the_task_s_own_retry_budget() -> None:
    storage = MemoryStorage()
    async with TaskQueue(worker_count=0, storage=storage) as producer:
        tid = await producer.submit("tests.unit.test_worker_outcomes:budgeted")
    assert (await storage.get(tid)).max_retries == 3  # type: ignore[union-attr] - the submitter's default
    async with TaskQueue(worker_count=1, storage=storage, tasks=[budgeted]) as q:
        assert await q.result(tid, 10) == "ok"
        assert (await q.status(tid)).max_retries == 5


class Recorder(Hooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def worker_started(self, worker: WorkerInfo, context: dict[str, Any]) -> None:
        context["pool"] = "db-pool"
        self.calls.append(("worker_started", worker.id))

    async def worker_stopping(self, worker: WorkerInfo, context: dict[str, Any]) -> None:
        self.calls.append(("worker_stopping", context.get("pool")))

    def before_task(self, task: TaskRecord) -> None:
        self.calls.append(("before_task", task.id))

    def after_task(self, task: TaskRecord, outcome: Outcome) -> None:
        self.calls.append(("after_task", (task.id, outcome.status)))

    def on_retry(self, task: TaskRecord, error: AttemptError, delay: float) -> None:
        self.calls.append(("on_retry", task.id))

    def on_failure(self, task: TaskRecord, error: AttemptError) -> None:
        self.calls.append(("on_failure", task.id))


class Broken(Hooks):
    def before_task(self, task: TaskRecord) -> None:
        raise RuntimeError("hook bug")

    def after_task(self, task: TaskRecord, outcome: Outcome) -> None:
        raise RuntimeError("hook bug")


@task(context=True)
async def uses_pool(ctx: TaskContext) -> Any:
    return ctx.resources.get("pool")


async def always_fails() -> None:
    raise ValueError("nope")


async def test_hooks_see_the_lifecycle_and_a_raising_hook_loses_nothing() -> None:
    rec = Recorder()
    policy = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.01)
    async with TaskQueue(worker_count=2, hooks=[Broken(), rec], retry_policy=policy) as q:
        ok = await q.submit(uses_pool)
        bad = await q.submit(always_fails)
        assert await q.result(ok, 10) == "db-pool"  # ctx.resources is the startup hooks' context
        assert (await q.wait(bad, 10)).status is S.FAILED
    names = [c[0] for c in rec.calls]
    assert names[0] == "worker_started" and names[-1] == "worker_stopping"
    assert ("worker_stopping", "db-pool") in rec.calls
    assert ("after_task", (ok, "completed")) in rec.calls
    assert ("after_task", (bad, "retrying")) in rec.calls and ("on_retry", bad) in rec.calls
    assert ("after_task", (bad, "failed")) in rec.calls and ("on_failure", bad) in rec.calls
    assert names.count("before_task") == 3


class OneBadFail(MemoryStorage):
    """fail() raises for one task id, always; every other outcome is stored."""

    bad: str = ""

    async def fail(self, task_id: str, token: int, error: AttemptError, retry_delay: float | None) -> S | None:
        if task_id == self.bad:
            raise ConnectionError("this one write keeps failing (test)")
        return await super().fail(task_id, token, error, retry_delay)


async def test_one_unwritable_failure_is_abandoned_alone_at_its_lease_deadline() -> None:
    storage = OneBadFail()
    policy = RetryPolicy(max_retries=0)
    async with TaskQueue(worker_count=4, storage=storage, lease=1.0, retry_policy=policy) as q:
        storage.bad = bad = await q.submit(always_fails)
        others = [await q.submit(always_fails) for _ in range(10)]
        good = [await q.submit(quick, i) for i in range(10)]
        for tid in others:
            assert (await q.wait(tid, 10)).status is S.FAILED
        for i, tid in enumerate(good):
            assert await q.result(tid, 10) == i
        worker = q.worker
        assert worker is not None
        for _ in range(1000):  # the bad one is retried until its lease deadline (1 s), then dropped
            if worker.outcomes.abandoned:
                break
            await asyncio.sleep(0.01)
        assert worker.outcomes.abandoned == 1 and bad not in worker.outcomes.held()


class GatedStart(MemoryStorage):
    """start() waits for ``gate`` (a pass's marks on their way while the task goes on)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def start(self, marks: Sequence[Start]) -> list[bool | None]:
        await self.gate.wait()
        return await super().start(marks)


async def test_an_outcome_never_overtakes_its_own_start_mark() -> None:
    """A task that starts and fails while a pass's start marks are on their way: its mark was
    queued after the pass took its marks, so its failure waits for the next pass, after the mark
    (it was sent in the same pass, before its mark, which was then refused and dropped)."""
    from gdw_core.worker.outcomes import OutcomeWriter

    storage = GatedStart()
    await storage.enqueue([TaskRecord(id=i, name="m:f") for i in ("a", "b")])
    leases = {lease.task.id: lease for lease in await storage.claim("w", ["default"], 2, 30.0, 0)}
    writer = OutcomeWriter(storage, "w", lease=30.0)
    now = asyncio.get_running_loop().time()
    writer.start(leases["a"], now, None)
    first = asyncio.create_task(writer.flush_once())
    await asyncio.sleep(0.01)  # pass one: a's mark is on its way
    writer.start(leases["b"], now, None)
    writer.fail(leases["b"], AttemptError(1, "ValueError", "boom", "", 0.0), None)
    storage.gate.set()
    assert await first
    assert (await storage.get("b")).status is S.CLAIMED  # type: ignore[union-attr]  # b's failure waited
    assert await writer.flush_once()  # pass two: b's mark, then its failure
    b = await storage.get("b")
    assert b is not None and b.status is S.FAILED and b.started_at is not None
    assert writer.refused == 0 and writer.pending() == 0
