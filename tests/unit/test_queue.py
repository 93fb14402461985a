"""TaskQueue end to end on memory storage: real asyncio workers, real tasks."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gdw_core import (
    InvalidPayload,
    InvalidSchedule,
    InvalidTask,
    ManualClock,
    QueueClosed,
    QueueFull,
    Retry,
    RetryPolicy,
    RetryStrategy,
    SkipRetry,
    TaskContext,
    TaskFailed,
    TaskQueue,
    TaskStatus,
    UnknownTask,
    task,
)

S = TaskStatus
FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


async def add(a: int, b: int = 0) -> int:
    return a + b


def mul_sync(a: int, b: int) -> tuple[int, str]:
    return a * b, threading.current_thread().name


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = ValueError) -> None:
        self.failures = failures
        self.calls = 0
        self.exc = exc

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "finally"


@task(context=True)
async def with_progress(steps: int, ctx: TaskContext) -> dict[str, Any]:
    for i in range(steps):
        ctx.progress({"done": i + 1, "of": steps})
        await asyncio.sleep(0.01)
    return {"id": ctx.task_id, "attempt": ctx.attempt}


async def test_async_sync_partial_and_named_tasks_run() -> None:
    async with TaskQueue(worker_count=3, tasks=[add]) as q:
        a = await q.submit(add, 2, b=3)
        s = await q.submit(mul_sync, 6, 7)
        p = await q.submit(functools.partial(add, 10), 5)
        n = await q.submit(f"{__name__}:add", 1, 1)
        assert await q.result(a, 5) == 5
        product, thread = await q.result(s, 5)
        assert product == 42 and thread.startswith("gdw-sync")  # never on the event loop
        assert await q.result(p, 5) == 15
        assert await q.result(n, 5) == 2
        rec = await q.status(p)
        assert rec.args == [10, 5] and str(rec.status) == "completed"


async def test_options_never_collide_with_task_arguments() -> None:
    async def echo(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    async with TaskQueue(worker_count=1) as q:
        tid = await q.options(task_id="mine", priority=4, timeout=5).submit(
            echo, task_id="arg", timeout="arg", queue="arg", priority="arg"
        )
        assert tid == "mine"
        assert await q.result(tid, 5) == {"task_id": "arg", "timeout": "arg", "queue": "arg", "priority": "arg"}
        rec = await q.status(tid)
        assert rec.priority == 4 and rec.timeout == 5


async def test_caller_given_id_is_idempotent() -> None:
    async with TaskQueue(worker_count=0, run_scheduler=False) as q:
        assert await q.options(task_id="once", if_exists="skip").submit(add, 1) == "once"
        assert await q.options(task_id="once", if_exists="skip").submit(add, 2) == "once"
        assert (await q.inspect.counts())[S.PENDING] == 1


async def test_retries_until_success_and_records_every_error() -> None:
    flaky = Flaky(failures=2)
    async with TaskQueue(worker_count=1, retry_policy=FAST) as q:
        rec = await q.wait(await q.submit(flaky), 5)
    assert rec.status is S.COMPLETED and rec.result == "finally" and rec.attempts == 3
    assert [(e.attempt, e.type, e.message) for e in rec.errors] == [
        (1, "ValueError", "failure 1"),
        (2, "ValueError", "failure 2"),
    ]
    assert all("Traceback" in e.traceback and e.at > 0 for e in rec.errors)


async def test_retries_exhausted_fail_with_all_errors() -> None:
    async with TaskQueue(worker_count=1, retry_policy=FAST) as q:
        tid = await q.submit(Flaky(failures=99))
        rec = await q.wait(tid, 5)
        assert rec.status is S.FAILED and rec.attempts == 4 and len(rec.errors) == 4
        with pytest.raises(TaskFailed, match="failed: ValueError: failure 4"):
            await q.result(tid, 1)


async def test_should_retry_false_fails_at_once() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.01, should_retry=lambda e: isinstance(e, TimeoutError))
    async with TaskQueue(worker_count=1, retry_policy=policy) as q:
        rec = await q.wait(await q.submit(Flaky(99, KeyError)), 5)
        assert rec.status is S.FAILED and rec.attempts == 1
        rec = await q.wait(await q.submit(Flaky(1, TimeoutError)), 5)
        assert rec.status is S.COMPLETED and rec.attempts == 2


async def test_retry_and_skip_retry_steer_the_task() -> None:
    calls: list[float] = []

    async def wants_retry() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise Retry(delay=0.2)
        return "second"

    async def gives_up() -> None:
        raise SkipRetry("no point")

    async with TaskQueue(worker_count=1, retry_policy=RetryPolicy(max_retries=3, base_delay=30)) as q:
        assert await q.result(await q.submit(wants_retry), 5) == "second"
        assert calls[1] - calls[0] >= 0.19  # the task's own delay, not the policy's 30 s
        rec = await q.wait(await q.submit(gives_up), 5)
        assert rec.status is S.FAILED and rec.attempts == 1 and rec.errors[0].type == "SkipRetry"


async def test_retry_delays_are_exact_on_an_injected_clock() -> None:
    clock = ManualClock()
    policy = RetryPolicy(max_retries=4, base_delay=1, max_delay=5, strategy=RetryStrategy.EXPONENTIAL)
    async with TaskQueue(worker_count=1, retry_policy=policy, clock=clock) as q:
        tid = await q.submit(Flaky(failures=99))
        seen: list[float] = []
        for expected in (1.0, 2.0, 4.0, 5.0):
            want = len(seen) + 1
            rec = await _until(q, tid, lambda r, want=want: len(r.errors) == want)
            assert rec.status is S.RETRYING
            seen.append(rec.run_at - rec.errors[-1].at)
            assert rec.run_at - rec.errors[-1].at == expected
            clock.advance(expected)
        rec = await q.wait(tid, 5)
        assert seen == [1.0, 2.0, 4.0, 5.0] and rec.status is S.FAILED and rec.attempts == 5


async def _until(q: TaskQueue, tid: str, cond: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = await q.status(tid)
        if cond(rec):
            return rec
        await asyncio.sleep(0.005)
    raise AssertionError(f"condition not reached; last {rec}")


async def test_timeout_cancels_the_task_and_counts_as_an_attempt() -> None:
    cancelled = asyncio.Event()

    async def sleeper() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with TaskQueue(worker_count=1, retry_policy=RetryPolicy(max_retries=1, base_delay=0.01)) as q:
        rec = await q.wait(await q.options(timeout=0.1).submit(sleeper), 10)
    assert cancelled.is_set()
    assert rec.status is S.FAILED and rec.attempts == 2
    assert [e.type for e in rec.errors] == ["TaskTimeout", "TaskTimeout"]


async def test_a_task_ignoring_cancellation_does_not_keep_its_slot() -> None:
    async def stubborn() -> None:
        for _ in range(40):
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    async with TaskQueue(worker_count=1, retry_policy=RetryPolicy(max_retries=0)) as q:
        stuck = await q.options(timeout=0.05).submit(stubborn)
        after = await q.submit(add, 1, 1)
        assert await q.result(after, 10) == 2
        assert (await q.status(stuck)).status is S.FAILED


async def test_schedule_delay_at_and_negative_delays() -> None:
    async with TaskQueue(worker_count=1) as q:
        t0 = time.time()
        d = await q.schedule(add, 0.3, 1)
        assert (await q.status(d)).status is S.SCHEDULED
        at = await q.schedule_at(add, datetime.now(UTC) + timedelta(seconds=0.3), 2)
        assert await q.result(d, 5) == 1 and await q.result(at, 5) == 2
        rec = await q.status(d)
        assert rec.started_at is not None and rec.started_at - t0 >= 0.29
        with pytest.raises(InvalidSchedule):
            await q.schedule(add, -1, 1)
        with pytest.raises(InvalidSchedule, match="aware"):
            await q.schedule_at(add, datetime.now(), 1)
        assert (await q.inspect.counts())[S.SCHEDULED] == 0


async def test_recurring_interval_runs_and_cancel_stops_it() -> None:
    runs: list[float] = []

    async def beat() -> None:
        runs.append(time.monotonic())

    async with TaskQueue(worker_count=1) as q:
        entry = await q.schedule_recurring(beat, interval=0.1, start_now=True)
        await _wait_for(lambda: len(runs) >= 3)
        await q.cancel_recurring(entry)
        await asyncio.sleep(0.2)
        count = len(runs)
        await asyncio.sleep(0.4)
        assert len(runs) == count
        assert await q.inspect.recurring() == []


async def test_recurring_does_not_pile_up_behind_a_slow_run() -> None:
    running = 0
    peak = 0

    async def slow() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.35)
        running -= 1

    async with TaskQueue(worker_count=4) as q:
        await q.schedule_recurring(slow, interval=0.05, start_now=True)
        await asyncio.sleep(1.0)
    assert peak == 1


async def test_recurring_cron_entry_gets_its_next_fire_time() -> None:
    async with TaskQueue(worker_count=0, run_scheduler=False) as q:
        entry_id = await q.schedule_recurring(add, 1, cron="*/5 * * * *")
        [entry] = await q.inspect.recurring()
        assert entry.id == entry_id and entry.cron == "*/5 * * * *"
        assert entry.next_run > time.time() and datetime.fromtimestamp(entry.next_run, UTC).minute % 5 == 0


async def _wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_bad_input_is_refused_at_the_call_and_nothing_is_enqueued() -> None:
    async with TaskQueue(worker_count=1) as q:
        with pytest.raises(InvalidTask):
            await q.submit(42)  # type: ignore[arg-type]
        with pytest.raises(InvalidTask):
            await q.submit("not a name")
        with pytest.raises(UnknownTask):
            await q.submit("nowhere.module:func")
        with pytest.raises(InvalidSchedule):
            await q.schedule_recurring(add, cron="every tuesday")
        with pytest.raises(InvalidSchedule):
            await q.schedule_recurring(add, interval=0)
        with pytest.raises(InvalidSchedule):
            await q.schedule_recurring(add, interval=5, cron="* * * * *")
        with pytest.raises(InvalidPayload):
            await q.submit(add, object())
        with pytest.raises(InvalidSchedule):
            q.options(timeout=-1)
        assert sum((await q.inspect.counts()).values()) == 0
    with pytest.raises(InvalidSchedule):
        RetryPolicy(base_delay=10, max_delay=1)


async def test_queue_full() -> None:
    async with TaskQueue(worker_count=0, queue_size=2, run_scheduler=False) as q:
        await q.submit(add, 1)
        await q.submit(add, 2)
        with pytest.raises(QueueFull):
            await q.submit(add, 3)
        assert (await q.inspect.counts())[S.PENDING] == 2


async def test_a_loop_of_submits_gives_its_own_workers_their_turn_before_the_queue_is_full() -> None:
    """On memory storage a submit never yields to the event loop, so a plain loop of submits left
    the queue's own idle workers no turn to take anything: the 101st raised QueueFull with every
    worker idle. A full queue now gives them their turn first; it is full only when it stays so."""
    async with TaskQueue(worker_count=4, queue_size=10, buffer_size=0) as q:
        ids = [await q.submit(add, i, 1) for i in range(300)]  # no await of anything else between
        assert [await q.result(i, timeout=10) for i in ids] == [i + 1 for i in range(300)]


async def test_a_queue_full_while_its_workers_are_busy_still_says_so() -> None:
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    async with TaskQueue(worker_count=2, queue_size=3, buffer_size=1, tasks=[held]) as q:
        accepted = 0
        with pytest.raises(QueueFull):
            for _ in range(50):
                await q.submit(held)
                accepted += 1
        assert accepted == 3 + 2 + 1  # waiting, running, claimed ahead
        batch = [(i,) for i in range(5)]
        with pytest.raises(QueueFull) as full:  # none got in (the queue stayed full)
            await q.submit_many(add, batch)
        assert full.value.enqueued == []
        other = q.options(queue="elsewhere")  # a queue no worker here takes: full at once, as before
        for _ in range(3):
            await other.submit(held)
        with pytest.raises(QueueFull):
            await other.submit(held)
        gate.set()


async def test_a_batch_that_fills_the_queue_lists_what_got_in_after_its_workers_turn() -> None:
    gate = asyncio.Event()

    async def held(n: int) -> None:
        await gate.wait()

    async with TaskQueue(worker_count=2, queue_size=3, buffer_size=1, tasks=[held]) as q:
        for i in range(3):  # two running, one claimed ahead: the worker takes no more
            await q.submit(held, i)
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull) as full:
            await q.submit_many(held, [(i,) for i in range(10, 15)])
        assert len(full.value.enqueued) == 3  # the first three, from before the worker's turns
        assert (await q.inspect.counts())[S.PENDING] == 3
        gate.set()


async def test_shutdown_lets_in_flight_finish_then_interrupts_the_rest() -> None:
    gate = asyncio.Event()

    async def quick() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def endless() -> None:
        await gate.wait()

    q = TaskQueue(worker_count=2, buffer_size=5)
    await q.start()
    a = await q.submit(quick)
    b = await q.submit(endless)
    extra = [await q.submit(quick) for _ in range(3)]
    await _wait_for_status(q, b, S.RUNNING)
    await q.shutdown(timeout=0.3)
    await q.shutdown(timeout=0.3)  # twice is safe
    assert (await q.status(a)).status is S.COMPLETED
    rec = await q.status(b)
    assert rec.status is S.RETRYING and rec.errors[-1].type == "Interrupted"  # not dropped: retryable
    for tid in extra:
        assert (await q.status(tid)).status in (S.COMPLETED, S.PENDING, S.RETRYING)
    with pytest.raises(QueueClosed):
        await q.submit(quick)


async def _wait_for_status(q: TaskQueue, tid: str, status: TaskStatus) -> None:
    await _until(q, tid, lambda r: r.status is status)


async def test_cancel_pending_and_running() -> None:
    started = asyncio.Event()

    async def long() -> None:
        started.set()
        await asyncio.sleep(30)

    async with TaskQueue(worker_count=1, buffer_size=0) as q:
        running = await q.submit(long)
        waiting = await q.submit(add, 1)
        await started.wait()
        assert await q.cancel(waiting) is S.CANCELLED
        assert await q.cancel(running) in (S.CLAIMED, S.RUNNING)  # asked; its worker stops it
        rec = await q.wait(running, 5)
        assert rec.status is S.CANCELLED and rec.errors[-1].type == "TaskCancelled"
        assert (await q.status(waiting)).attempts == 0


async def test_cancel_a_task_claimed_ahead_into_the_buffer() -> None:
    started = asyncio.Event()
    gate = asyncio.Event()

    async def hold() -> None:
        started.set()
        await gate.wait()

    async with TaskQueue(worker_count=1, buffer_size=5) as q:
        first = await q.submit(hold)
        await started.wait()
        buffered = await q.submit(add, 1)
        await _wait_for_status(q, buffered, S.CLAIMED)  # claimed ahead of a free slot, not started
        await q.cancel(buffered)
        await _wait_for_status(q, buffered, S.CANCELLED)  # dropped before it ever starts
        gate.set()
        assert (await q.wait(first, 5)).status is S.COMPLETED


async def test_retry_now_skips_the_backoff() -> None:
    async with TaskQueue(worker_count=1, retry_policy=RetryPolicy(max_retries=2, base_delay=3600, max_delay=3600)) as q:
        tid = await q.submit(Flaky(failures=1))
        await _wait_for_status(q, tid, S.RETRYING)
        assert await q.retry_now(tid) is True
        assert await q.result(tid, 5) == "finally"


async def test_events_stream_every_transition() -> None:
    async with TaskQueue(worker_count=1, retry_policy=FAST) as q:
        seen: list[tuple[str | None, str]] = []

        async def collect() -> None:
            async for event in q.events():
                if event.task_id is not None:
                    seen.append((event.old, event.kind))
                if event.kind in ("completed", "failed"):
                    return

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0.01)
        await q.submit(Flaky(failures=1))
        await asyncio.wait_for(collector, 5)
    # the failed attempt's start mark lands before its failure; a success that beats its own mark
    # is recorded claimed -> completed directly
    head = [
        (None, "pending"),
        ("pending", "claimed"),
        ("claimed", "running"),
        ("running", "retrying"),
        ("retrying", "pending"),
        ("pending", "claimed"),
    ]
    assert seen[:6] == head
    assert seen[6:] in ([("claimed", "running"), ("running", "completed")], [("claimed", "completed")])


async def test_inspect_views() -> None:
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    async with TaskQueue(worker_count=2, buffer_size=0) as q:
        ids = [await q.submit(hold) for _ in range(5)]
        await _wait_for_status(q, ids[1], S.RUNNING)
        counts = await q.inspect.counts()
        assert counts[S.RUNNING] == 2 and counts[S.PENDING] == 3
        pending = await q.inspect.tasks("pending", limit=2)
        assert [r.id for r in pending] == ids[2:4]
        await asyncio.sleep(1.2)  # a heartbeat publishes busy slots
        util = await q.inspect.utilization()
        assert (util.busy, util.total) == (2, 2) and util.ratio == 1.0
        [worker] = await q.inspect.workers()
        assert worker.utilization > 0.5 and worker.concurrency == 2
        gate.set()
        for tid in ids:
            await q.wait(tid, 5)
        assert (await q.inspect.counts())[S.COMPLETED] == 5


async def test_context_reports_progress() -> None:
    async with TaskQueue(worker_count=1) as q:
        tid = await q.submit(with_progress, 3)
        result = await q.result(tid, 5)
        assert result == {"id": tid, "attempt": 1}
        await asyncio.sleep(0.05)
        assert (await q.status(tid)).progress == {"done": 3, "of": 3}


async def test_unknown_task_in_storage_fails_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    from gdw_core import TaskRecord

    caplog.set_level(logging.ERROR, logger="gdw.worker")
    async with TaskQueue(worker_count=1) as q:
        await q.storage.enqueue([TaskRecord(id="evil", name="os:system", args=["echo hacked"])])
        rec = await q.wait("evil", 5)
        assert rec.status is S.FAILED and rec.attempts == 1 and rec.errors[0].type == "UnknownTask"
        assert await q.result(await q.submit(add, 1), 5) == 1  # the worker keeps running
    # the log line carries the task's fields, so a JSON log names the task it is about
    [line] = [r for r in caplog.records if "not registered here" in r.getMessage()]
    assert (getattr(line, "task_id", None), getattr(line, "task", None)) == ("evil", "os:system")


async def test_shutdown_command_stops_the_embedded_queue() -> None:
    q = TaskQueue(worker_count=1)
    await q.start()
    await q.control.shutdown(timeout=1)
    await asyncio.wait_for(q.wait_closed(), 5)
    assert q.closed


@task(retry=RetryPolicy(max_retries=1, base_delay=0.01), timeout=0.2)
async def declared_policy(seconds: float) -> None:
    await asyncio.sleep(seconds)
    raise ValueError("always")


async def test_a_task_submitted_by_name_gets_its_own_task_defaults_from_the_worker() -> None:
    from gdw_core import MemoryStorage

    shared = MemoryStorage()
    name = f"{__name__}:declared_policy"
    producer = TaskQueue(worker_count=0, storage=shared, run_scheduler=False)  # knows only the name
    async with producer, TaskQueue(worker_count=1, storage=shared, tasks=[declared_policy]):
        fails = await producer.submit(name, 0)
        slow = await producer.submit(name, 5)
        overridden = await producer.options(retry=RetryPolicy(max_retries=0)).submit(name, 0)
        assert (await producer.status(fails)).retry is None  # the worker decides
        rec = await producer.wait(fails, 5)
        assert rec.status is S.FAILED and rec.attempts == 2  # the @task policy: 1 retry, not 3
        rec = await producer.wait(slow, 5)
        assert [e.type for e in rec.errors] == ["TaskTimeout", "TaskTimeout"]  # the @task timeout
        assert (await producer.wait(overridden, 5)).attempts == 1  # an explicit option still wins


async def test_each_per_call_retry_policy_is_applied_even_when_records_share_its_dict() -> None:
    once = RetryPolicy(max_retries=1, base_delay=0.0, max_delay=0.0)
    twice = RetryPolicy(max_retries=2, base_delay=0.0, max_delay=0.0)
    async with TaskQueue(worker_count=1, retry_policy=FAST) as q:
        ids = [
            await q.options(retry=policy).submit(Flaky(failures=99))
            for policy in (once, twice, once, twice)  # the second record of a policy shares its dict
        ]
        attempts = [(await q.wait(tid, 5)).attempts for tid in ids]
    assert attempts == [2, 3, 2, 3]


async def test_records_submitted_by_name_follow_what_the_name_stands_for_now() -> None:
    # a producer's by-name submits share the fields of their first record (issue 15): each later
    # record is checked still valid, so a registration, a retry policy or a default queue set after
    # the first submit is what the next record gets, as on the general path
    from gdw_core import MemoryStorage

    name = f"{__name__}:declared_policy"
    producer = TaskQueue(worker_count=0, storage=MemoryStorage(), run_scheduler=False)
    async with producer:
        first = await producer.submit(name, 0)
        again = await producer.submit(f"  {name} ", 1)  # (a name is taken without its spaces)
        r1, r2 = await producer.status(first), await producer.status(again)
        assert (r1.name, r1.retry, r1.timeout, r1.args) == (name, None, None, [0])
        assert (r2.name, r2.retry, r2.timeout, r2.args) == (name, None, None, [1])
        assert r1.id != r2.id
        producer.register(declared_policy)  # now known here: its @task defaults apply
        known = await producer.status(await producer.submit(name, 2))
        assert (known.max_retries, known.timeout, known.args) == (1, 0.2, [2])
        producer.retry_policy = RetryPolicy(max_retries=7)  # (the @task policy still wins)
        producer.default_queue = "elsewhere"
        moved = await producer.status(await producer.submit(name, 3))
        assert (moved.queue, moved.max_retries) == ("elsewhere", 1)
        other = f"{__name__}:not_registered_anywhere"
        assert (await producer.status(await producer.submit(other))).max_retries == 7
        producer.retry_policy = RetryPolicy(max_retries=2)  # a name nothing here runs: the queue's budget
        assert (await producer.status(await producer.submit(other))).max_retries == 2
        producer.default_queue = "third"
        assert (await producer.status(await producer.submit(other))).queue == "third"


async def test_a_name_nothing_here_can_run_is_refused_on_every_submit() -> None:
    # memory storage, a queue that runs tasks: a name it cannot run is refused each time (the
    # first refusal leaves nothing behind for a later submit to reuse)
    name = f"{__name__}:not_registered_anywhere"
    async with TaskQueue(worker_count=1) as runner:
        for _ in range(2):
            with pytest.raises(UnknownTask):
                await runner.submit(name)
        assert sum((await runner.inspect.counts()).values()) == 0
