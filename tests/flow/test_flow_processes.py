"""Flow control with real worker processes on a real redis-server: the proofs of issue 12.

The tasks write what they do (start / end, their pid, the wall clock of this one host) to a file
opened for appending; the tests read that record, not the storage's view of it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.redis.conftest import spawn_worker
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

FLOW_TASKS = '''
"""Tasks of the flow-control process tests: each notes its start (and end) with pid and time."""
import asyncio
import os
import time

LOG = os.path.join(os.getcwd(), "runs.log")


def _note(kind, tag):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {tag} {os.getpid()} {time.time():.6f}\\n".encode())
    finally:
        os.close(fd)


async def rated(tag):
    _note("start", tag)


async def held(tag, seconds):
    _note("start", tag)
    await asyncio.sleep(seconds)
    _note("end", tag)
'''


def runs(task_dir: Path) -> list[tuple[str, str, int, float]]:
    path = task_dir / "runs.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, tag, pid, at = line.split()
        out.append((kind, tag, int(pid), float(at)))
    return out


def most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def wait_all_done(producer: TaskQueue, ids: list[str], timeout: float) -> None:
    for task_id in ids:
        rec = await producer.wait(task_id, timeout=timeout)
        assert rec.status is TaskStatus.COMPLETED, rec


async def wait_workers(producer: TaskQueue, n: int, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(await producer.storage.workers()) < n:
        assert loop.time() < deadline, "the worker processes did not start"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # their claim loops are waiting for work


def stop(workers: list[object]) -> None:
    for w in workers:
        proc = w  # subprocess.Popen
        if proc.poll() is None:  # type: ignore[attr-defined]
            proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    for w in workers:
        w.wait(30)  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_a_rate_of_20_per_second_holds_over_three_worker_processes(
    redis_storage: RedisStorage, redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "flow_tasks.py").write_text(FLOW_TASKS)
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    rate, burst, n = 20, 5, 400
    await producer.limits.set("rated", rate=f"{rate}/s", burst=burst)
    workers = [spawn_worker(redis_server.url, tmp_path, ["flow_tasks"], concurrency=10) for _ in range(3)]
    try:
        await wait_workers(producer, 3)  # warm workers: the first starts are not slowed by start-up
        ids = await producer.options(limits=["rated"]).submit_many("flow_tasks:rated", [(i,) for i in range(n)])
        await wait_all_done(producer, ids, timeout=90)
    finally:
        stop(workers)
    starts = [at for kind, _, _, at in runs(tmp_path) if kind == "start"]
    assert len(starts) == n
    assert len({pid for _, _, pid, _ in runs(tmp_path)}) >= 2  # the work was shared between processes
    assert most_in_window(starts, 1.0) <= rate + burst
    took = max(starts) - min(starts)
    implied = (n - burst) / rate  # the burst starts at once, then one per 1/rate seconds
    print(f"rate proof: {n} starts in {took:.2f}s (implied {implied:.2f}s), max in 1s {most_in_window(starts, 1.0)}")
    assert implied * 0.9 <= took <= implied * 1.1, (took, implied)


def overlap_timeline(
    records: list[tuple[str, str, int, float]], killed: int, killed_at: float
) -> list[tuple[float, int]]:
    """(time, how many run) after each start / end; a run of the killed process ends at the kill."""
    open_runs: dict[tuple[str, int], float] = {}
    edges: list[tuple[float, int]] = []
    for kind, tag, pid, at in records:
        if kind == "start":
            open_runs[(tag, pid)] = at
            edges.append((at, +1))
        else:
            open_runs.pop((tag, pid), None)
            edges.append((at, -1))
    for (_, pid), _ in open_runs.items():
        assert pid == killed, "a run of a live worker never ended"
        edges.append((killed_at, -1))
    edges.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    timeline, running = [], 0
    for at, step in edges:
        running += step
        timeline.append((at, running))
    return timeline


async def test_a_concurrency_of_2_holds_over_three_workers_and_a_kill_9(
    redis_storage: RedisStorage, redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "flow_tasks.py").write_text(FLOW_TASKS)
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    lease = 3.0
    await producer.limits.set("pair", concurrency=2)
    ids = await producer.options(limits=["pair"]).submit_many("flow_tasks:held", [(i, 0.4) for i in range(24)])
    workers = [spawn_worker(redis_server.url, tmp_path, ["flow_tasks"], concurrency=10, lease=lease) for _ in range(3)]
    pids = {w.pid: w for w in workers}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        victim = None
        while victim is None:  # a worker in the middle of a run (started, not ended), after a few runs
            assert loop.time() < deadline, "no worker started a task"
            records = runs(tmp_path)
            ended = {(tag, pid) for kind, tag, pid, _ in records if kind == "end"}
            busy = [pid for kind, tag, pid, _ in records if kind == "start" and (tag, pid) not in ended]
            if len(ended) >= 4 and busy and busy[-1] in pids:
                victim = busy[-1]
            else:
                await asyncio.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        killed_at = await asyncio.to_thread(lambda: (pids[victim].wait(10), __import__("time").time())[1])
        await wait_all_done(producer, ids, timeout=90)
    finally:
        stop([w for pid, w in pids.items() if pid != victim])
    records = runs(tmp_path)
    timeline = overlap_timeline(records, victim, killed_at)
    assert max(n for _, n in timeline) <= 2, timeline
    assert max(n for _, n in timeline) == 2  # the limit was used, not just respected
    # the dead worker's slot came back within the lease: two run at once again soon enough
    again = [at for at, n in timeline if at > killed_at and n == 2]
    assert again and again[0] - killed_at <= lease + 1.5, (again[:1], killed_at)
    most = max(n for _, n in timeline)
    print(f"concurrency proof: max running {most}, slot back {again[0] - killed_at:.2f}s after the kill")
    assert (await producer.limits.list())[0].holding == 0


async def test_two_per_customer_across_worker_processes(
    redis_storage: RedisStorage, redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "flow_tasks.py").write_text(FLOW_TASKS)
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    await producer.limits.set("customer", concurrency=2)
    ids = []
    for round_ in range(3):  # interleaved: customer 0..19, three times
        for c in range(20):
            ids.append(
                await producer.options(limits=[f"customer:{c}"]).submit("flow_tasks:held", f"c{c}-{round_}", 0.3)
            )
    workers = [spawn_worker(redis_server.url, tmp_path, ["flow_tasks"], concurrency=20) for _ in range(2)]
    try:
        await wait_all_done(producer, ids, timeout=90)
    finally:
        stop(workers)
    per_customer: dict[str, list[tuple[float, int]]] = {}
    everyone: list[tuple[float, int]] = []
    for kind, tag, _, at in runs(tmp_path):
        step = +1 if kind == "start" else -1
        per_customer.setdefault(tag.split("-")[0], []).append((at, step))
        everyone.append((at, step))

    def peak(edges: list[tuple[float, int]]) -> int:
        running = best = 0
        for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
            running += step
            best = max(best, running)
        return best

    assert len(per_customer) == 20 and max(peak(e) for e in per_customer.values()) == 2
    assert peak(everyone) > 10  # the other customers kept flowing: far more than one customer's 2
