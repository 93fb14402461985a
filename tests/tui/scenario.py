"""A fixed, deterministic queue state for snapshot tests: a manual clock, fixed ids, two workers
(one dead, still holding a task), tasks in every state (one claimed, not started), a recurring
entry and a minute of throughput."""

from __future__ import annotations

from typing import Any

import demo_tasks
from gdw_core import AttemptError, ManualClock, MemoryStorage, TaskQueue, WorkerInfo
from gdw_core.storage.protocol import Ack, Start
from gdw_tui.app import GdwApp

START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "demo_tasks/__init__.py", line 84, in failing\n'
    "    raise RuntimeError(message)\n"
    "RuntimeError: upstream returned 503"
)


def make_app(**kwargs: Any) -> GdwApp:
    clock = ManualClock(START)
    queue = TaskQueue(worker_count=0, queue_size=None, storage=MemoryStorage(clock), clock=clock, tasks=[demo_tasks])
    return GdwApp(queue, clock=clock.now, follow_events=False, refresh_interval=3600.0, **kwargs)


def worker(wid: str, host: str, pid: int, busy: int, processed: int, failed: int, util: float) -> WorkerInfo:
    return WorkerInfo(
        id=wid,
        host=host,
        pid=pid,
        queues=["default"],
        concurrency=8,
        busy=busy,
        processed=processed,
        failed=failed,
        started_at=START - 3600,
        utilization=util,
        tasks=["demo_tasks:fast", "demo_tasks:flaky", "demo_tasks:resize", "demo_tasks:sleepy"],
    )


async def seed(app: GdwApp) -> None:
    """Fill the app's queue with the scenario (on the app's own event loop)."""
    queue = app.queue
    storage = queue.storage
    clock = queue.clock
    assert isinstance(clock, ManualClock)
    stale = worker("host-b:977:1f2e3d", "host-b", 977, 1, 310, 2, 0.12)
    await queue.options(task_id="orphan-1").submit("demo_tasks:sleepy", 5, 10)
    orphan = (await storage.claim(stale.id, ["default"], 1, 30.0, 0.0))[0]
    await storage.start([Start(orphan.task.id, orphan.token)])
    stale.held = [orphan.task.id]
    await storage.heartbeat(stale, {orphan.task.id: orphan.token}, 30.0)
    clock.advance(20)
    done_ids = []
    for i in range(6):
        done_ids.append(await queue.options(task_id=f"done-{i}").submit("demo_tasks:fast", i))
    await queue.options(task_id="resize-7", timeout=60).submit("demo_tasks:resize", "photos/img0007.jpg", 800)
    await queue.options(task_id="flaky-3").submit("demo_tasks:flaky", probability=0.9)
    await queue.options(task_id="failing-1").submit("demo_tasks:failing", "upstream returned 503")
    leases = {lease.task.id: lease for lease in await storage.claim("host-a:4242:9a8b7c", ["default"], 20, 30.0, 0.0)}
    await storage.start([Start(t, lease.token) for t, lease in leases.items()])
    await queue.options(task_id="buffered-1").submit("demo_tasks:fast", "in the buffer")
    await storage.claim("host-a:4242:9a8b7c", ["default"], 1, 30.0, 0.0)
    clock.advance(1.5)
    await storage.complete([Ack(t, leases[t].token, {"ok": t}) for t in done_ids])
    err = AttemptError(1, "RuntimeError", "coin came up tails", TRACEBACK, clock.now(), "host-a:4242:9a8b7c")
    await storage.fail("flaky-3", leases["flaky-3"].token, err, 12.0)
    final = AttemptError(1, "RuntimeError", "upstream returned 503", TRACEBACK, clock.now(), "host-a:4242:9a8b7c")
    await storage.fail("failing-1", leases["failing-1"].token, final, None)
    await storage.progress("resize-7", leases["resize-7"].token, {"done": 3, "of": 10})
    await queue.options(task_id="report-q4").schedule("demo_tasks:sleepy", 900, 0.1, 0.2)
    await queue.options(task_id="waiting-1").submit("demo_tasks:fast", "queued")
    await queue.options(task_id="secret-1", secret=True).schedule("demo_tasks:resize", 300, "s3://bucket/key", 64)
    await queue.schedule_recurring("demo_tasks:heartbeat", cron="0 3 * * *", entry_id="nightly-heartbeat")
    await queue.schedule_recurring("demo_tasks:fast", "tick", interval=300, entry_id="every-5m")
    clock.advance(2.5)
    await storage.heartbeat(worker("host-a:4242:9a8b7c", "host-a", 4242, 1, 1234, 7, 0.62), {}, 30.0)
    for event in await storage.read_events("0"):
        app.on_storage_event(event)
    app.announce()
