"""Proof: a chord of 200 members over three real ``gdw worker`` processes, one kill -9ed mid-way
and restarted: the callback runs exactly once, with the 200 results in member order. The scenario
loops GDW_WF_ROUNDS times (2 by default; ``GDW_WF_ROUNDS=20 python -m pytest -m slow
tests/workflow/test_chord_kill9.py`` for the 20-round proof)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gdw_core import TaskQueue, TaskStatus, chord, sig
from gdw_core.storage.redis import RedisStorage
from tests.faults.harness import ROOT, FaultRedis, WorkerProc, wait_for
from tests.workflow import proc_tasks

pytestmark = [pytest.mark.slow, pytest.mark.faults]

S = TaskStatus
ROUNDS = int(os.environ.get("GDW_WF_ROUNDS", "2"))
MEMBERS = 200
LEASE = 2.0


class Procs:
    def __init__(self, url: str, log_dir: Path) -> None:
        self.url, self.log_dir, self.all = url, log_dir, []  # type: ignore[var-annotated]

    def spawn(self) -> WorkerProc:
        cmd = [
            sys.executable, "-m", "gdw_core.cli", "worker", "tests.workflow.proc_tasks", "--redis", self.url,
            "--concurrency", "4", "--lease", f"{LEASE:g}s", "--shutdown-timeout", "5s",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GDW_WF_LOG": str(self.log_dir)}
        log = self.log_dir / f"worker-{len(self.all)}.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        w = WorkerProc(proc, log)
        self.all.append(w)
        return w

    def cleanup(self) -> None:
        for w in self.all:
            if w.alive():
                w.proc.kill()
                w.proc.wait()


@pytest.fixture
async def scene() -> AsyncIterator[tuple[FaultRedis, TaskQueue, Procs]]:
    redis = FaultRedis().start()
    log_dir = Path(tempfile.mkdtemp(prefix="gdw-wf-"))
    procs = Procs(redis.url, log_dir)
    storage = RedisStorage.from_url(redis.url)
    producer = TaskQueue(worker_count=0, storage=storage, tasks=[proc_tasks])
    await producer.open_storage()
    try:
        yield redis, producer, procs
    finally:
        procs.cleanup()
        await producer.shutdown()
        redis.stop()


def callback_runs(log_dir: Path, key: str) -> list[dict[str, object]]:
    runs = []
    for f in log_dir.glob("callback-*.log"):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            if row["key"] == key:
                runs.append(row)
    return runs


async def test_chord_of_200_survives_a_kill_9_and_fires_once(scene: tuple[FaultRedis, TaskQueue, Procs]) -> None:
    _redis, producer, procs = scene
    workers = [procs.spawn() for _ in range(3)]

    async def registered() -> bool:
        return len(await producer.storage.workers()) >= 3

    await wait_for(registered, 30, "3 workers to register")
    expected = [i * i for i in range(MEMBERS)]
    for round_no in range(ROUNDS):
        key = f"round-{round_no}"
        handle = await producer.submit_workflow(
            chord([sig(proc_tasks.member, i) for i in range(MEMBERS)], sig(proc_tasks.callback, key=key))
        )
        members, cb = handle.ids[:-1], handle.ids[-1]

        async def some_done(before: int = (MEMBERS + 1) * round_no) -> bool:
            counts = await producer.storage.counts()
            return counts[S.COMPLETED] >= before + MEMBERS // 3

        await wait_for(some_done, 60, "a third of the members to complete")
        victim = workers[round_no % 3]
        victim.kill9()  # mid-way: it holds claimed / running members
        assert (await producer.status(cb)).status is S.BLOCKED
        workers[round_no % 3] = procs.spawn()
        assert await handle.result(timeout=90) == MEMBERS
        runs = callback_runs(procs.log_dir, key)
        assert len(runs) == 1, f"round {round_no}: the callback ran {len(runs)} times"
        assert runs[0]["results"] == expected
        rec = await producer.status(cb)
        assert rec.status is S.COMPLETED and rec.result == MEMBERS
        released = [e for e in await producer.storage.read_events("0", 100_000) if e.task_id == cb]
        assert [e.kind for e in released] == ["blocked", "pending", "claimed", "running", "completed"] or [
            e.kind for e in released
        ] == ["blocked", "pending", "claimed", "completed"], [e.kind for e in released]
        recovered = 0
        for m in members:
            got = await producer.status(m)
            assert got.status is S.COMPLETED
            recovered += any(e.type == "LeaseExpired" for e in got.errors)
        assert recovered > 0, f"round {round_no}: the kill -9 hit no member (nothing was recovered)"
        print(f"round {round_no}: {recovered} members recovered from the killed worker; callback ran once")
