"""The moving parts of an adversarial scenario: a private redis-server (tests/faults/harness.py),
real ``gdw worker`` processes serving this folder's task modules, the ``gdw`` CLI as a subprocess,
raw access to Redis for injecting corrupt data, and the execution log the tasks write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from gdw_core import TaskQueue
from gdw_core.record import TaskRecord
from gdw_core.status import TERMINAL, TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.faults.harness import LEASE, FaultRedis, WorkerProc, wait_for

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.adversarial.adv_tasks"
S = TaskStatus
NS = "gdw"
G = f"{NS}:{{{NS}}}:g:"  # the global prefix


def qp(queue: str = "default") -> str:
    """A queue's key prefix."""
    return f"{NS}:{{{queue}}}:"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@dataclass
class Scene:
    redis: FaultRedis
    storage: RedisStorage
    producer: TaskQueue
    raw: aioredis.Redis  # bytes in, bytes out: for injecting what gdw would never write
    log_dir: Path
    tmp: Path
    procs: list[WorkerProc] = field(default_factory=list)

    # -- workers ------------------------------------------------------------------------------
    def spawn(
        self,
        modules: tuple[str, ...] = (TASKS,),
        concurrency: int = 4,
        lease: float = LEASE,
        shutdown_timeout: float = 10.0,
        extra: list[str] | None = None,
    ) -> WorkerProc:
        cmd = [
            sys.executable, "-m", "gdw_core.cli", "worker", *modules, "--redis", self.redis.url,
            "--concurrency", str(concurrency), "--lease", f"{lease:g}s",
            "--shutdown-timeout", f"{shutdown_timeout:g}s", *(extra or []),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GDW_FAULT_LOG": str(self.log_dir)}
        log = self.log_dir / f"worker-{len(self.procs)}.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        w = WorkerProc(proc, log)
        self.procs.append(w)
        return w

    def outputs(self) -> str:
        return "\n".join(f"--- worker {w.pid} (rc {w.proc.returncode}) ---\n{w.output()[-4000:]}" for w in self.procs)

    async def registered(self, n: int, timeout: float = 30) -> None:
        async def ready() -> bool:
            pids = {w.pid for w in await self.storage.workers()}
            return sum(1 for w in self.procs if w.alive() and w.pid in pids) >= n

        await wait_for(ready, timeout, f"{n} worker(s) to register")

    def cleanup(self) -> None:
        for w in self.procs:
            if w.alive():
                w.proc.kill()
                w.proc.wait()

    # -- the CLI ------------------------------------------------------------------------------
    def gdw(self, *args: str, url: str | None = None, timeout: float = 60) -> CliResult:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
        cmd = [sys.executable, "-m", "gdw_core.cli", *args, "--redis", url or self.redis.url]
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        return CliResult(out.returncode, out.stdout, out.stderr)

    # -- reading ------------------------------------------------------------------------------
    def executions(self, phase: str = "done") -> dict[str, int]:
        """task id -> how many executions of it reached ``phase`` (from the tasks' own log)."""
        seen: dict[str, int] = {}
        for path in self.log_dir.glob("exec-*.log"):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row["ph"] == phase:
                    seen[row["t"]] = seen.get(row["t"], 0) + 1
        return seen

    async def terminal(self, ids: list[str], timeout: float, what: str = "every task to end") -> dict[str, TaskRecord]:
        found: dict[str, TaskRecord] = {}

        async def done() -> bool:
            for task_id in ids:
                if task_id in found:
                    continue
                rec = await self.storage.get(task_id)
                if rec is not None and rec.status in TERMINAL:
                    found[task_id] = rec
            return len(found) == len(ids)

        try:
            await wait_for(done, timeout, what, every=0.1)
        except AssertionError as exc:
            missing = {i: await self._status(i) for i in ids if i not in found}
            raise AssertionError(f"{exc}; not terminal: {dict(list(missing.items())[:10])}\n{self.outputs()}") from None
        return found

    async def _status(self, task_id: str) -> Any:
        try:
            rec = await self.storage.get(task_id)
        except Exception as exc:
            return f"get raised {exc!r}"
        return None if rec is None else str(rec.status)


def invalid_reason(rec: TaskRecord) -> str:
    """The InvalidPayload error recorded on a failed record ('' when there is none)."""
    for error in reversed(rec.errors):
        if error.type == "InvalidPayload" and error.message.strip():
            return error.message
    return ""
