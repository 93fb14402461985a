"""``gdw retry|cancel|purge`` by filter against a real redis-server: bulk retry of 10,000 failed
tasks re-runs each exactly once (a real ``gdw worker`` process drains them) with progress on a
terminal and totals at the end; dry runs count; bad requests get one clear error, nothing done."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from gdw_core import AttemptError, TaskRecord, TaskStatus
from gdw_core.cli.app import app
from gdw_core.storage.redis import RedisStorage
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.redis]

GDW = [sys.executable, "-m", "gdw_core.cli"]
PATIENCE = 180.0  # "it finished" guard only


def until(check: Callable[[], Any], what: str) -> Any:
    return wait_until(check, what, PATIENCE, 0.2)


async def seed_failed(url: str, n: int, name: str = "demo_tasks:fast", queue: str = "default") -> list[str]:
    """``n`` tasks that ran once and failed for good (as a worker would have recorded them)."""
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        records = [TaskRecord(id=f"t{i:05d}-{uuid.uuid4().hex[:6]}", name=name, queue=queue) for i in range(n)]
        await storage.enqueue(records)
        left = n
        while left:
            leases = await storage.claim("seeder", [queue], min(500, left), 60.0, 1.0)
            assert leases
            error = AttemptError(1, "DemoFailure", "it broke", "Traceback ...", 0.0, "seeder")
            await asyncio.gather(*(storage.fail(x.task.id, x.token, error, None) for x in leases))
            left -= len(leases)
        assert (await storage.counts(queue))[TaskStatus.FAILED] >= n
        return [r.id for r in records]
    finally:
        await storage.close()


async def snapshot(url: str, ids: list[str]) -> list[TaskRecord]:
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        out = []
        for task_id in ids:
            rec = await storage.get(task_id)
            assert rec is not None, task_id
            out.append(rec)
        return out
    finally:
        await storage.close()


async def count(url: str, status: TaskStatus, queue: str | None = None) -> int:
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        return (await storage.counts(queue))[status]
    finally:
        await storage.close()


def gdw(runner: CliRunner, url: str, *argv: str, input: str | None = None) -> Any:
    return runner.invoke(app, [*argv, "--redis", url], input=input)


def on_a_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``gdw`` with stderr on a pseudo-terminal (where the progress bar is drawn)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, env=env, timeout=PATIENCE)
    os.close(slave)
    reader.join(10)
    os.close(master)
    return proc.returncode, proc.stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_bulk_retry_of_10000_failed_tasks_reruns_each_once(redis_url: str, tmp_path: Any) -> None:
    ids = asyncio.run(seed_failed(redis_url, 10_000))
    # one garbage record among them: skipped alone, with its reason
    storage_prefix = "gdw:{default}:"
    subprocess.run(
        ["redis-cli", "-u", redis_url, "set", storage_prefix + "t:garbage", "x"], check=True, capture_output=True
    )
    subprocess.run(
        ["redis-cli", "-u", redis_url, "zadd", storage_prefix + "f", "1", "garbage"], check=True, capture_output=True
    )
    code, out, err = on_a_terminal([*GDW, "retry", "--state", "failed", "--yes", "--redis", redis_url])
    assert code == 1, (out, err)  # one was skipped
    assert "retry: 10000 done, 1 skipped" in out
    assert "unreadable record" in out
    assert "10001/10001" in err  # the progress bar reached the total on the terminal
    assert asyncio.run(count(redis_url, TaskStatus.PENDING)) == 10_000
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [*GDW, "worker", "demo_tasks", "--redis", redis_url, "--concurrency", "50", "--shutdown-timeout", "5s"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        until(lambda: asyncio.run(count(redis_url, TaskStatus.COMPLETED)) == 10_000, "the re-runs to complete")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
    records = asyncio.run(snapshot(redis_url, ids))
    assert {r.status for r in records} == {TaskStatus.COMPLETED}
    # exactly once each: one attempt of the fresh budget, the first run's error still in history
    assert {r.attempts for r in records} == {1}
    assert {tuple(e.type for e in r.errors) for r in records} == {("DemoFailure",)}
    # a second bulk retry re-runs nothing: only the unreadable record is met (and reported) again
    again = subprocess.run(
        [*GDW, "retry", "--state", "failed", "--name", "demo_tasks:fast", "--yes", "--redis", redis_url],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert again.returncode == 1 and "retry: 0 done, 1 skipped" in again.stdout


def test_dry_run_counts_and_json_totals(redis_url: str) -> None:
    runner = CliRunner()
    asyncio.run(seed_failed(redis_url, 30, name="demo_tasks:failing"))
    asyncio.run(seed_failed(redis_url, 5, name="demo_tasks:fast"))
    dry = gdw(runner, redis_url, "retry", "--state", "failed", "--name", "demo_tasks:failing", "--dry-run")
    assert dry.exit_code == 0 and "30 tasks match" in dry.stdout
    assert asyncio.run(count(redis_url, TaskStatus.FAILED)) == 35
    done = gdw(runner, redis_url, "retry", "--state", "failed", "--name", "demo_tasks:failing", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"action": "retry", "done": 30, "skipped": {}, "matched": 30}
    assert asyncio.run(count(redis_url, TaskStatus.FAILED)) == 5


def test_confirmation_declined_does_nothing(redis_url: str) -> None:
    runner = CliRunner()
    asyncio.run(seed_failed(redis_url, 4))
    result = gdw(runner, redis_url, "purge", "--state", "failed", input="n\n")
    assert result.exit_code == 1 and "not confirmed" in result.stderr
    assert asyncio.run(count(redis_url, TaskStatus.FAILED)) == 4
    result = gdw(runner, redis_url, "purge", "--state", "failed", input="y\n")
    assert result.exit_code == 0 and "purge: 4 done, 0 skipped" in result.stdout
    assert asyncio.run(count(redis_url, TaskStatus.FAILED)) == 0


def test_purge_older_than_and_cancel_by_queue(redis_url: str) -> None:
    runner = CliRunner()
    asyncio.run(seed_failed(redis_url, 3))
    young = gdw(runner, redis_url, "purge", "--state", "failed", "--older-than", "1d", "--yes")
    assert young.exit_code == 0 and "0 tasks match" in young.stdout
    for i in range(6):
        assert gdw(runner, redis_url, "submit", "demo_tasks:fast", "--queue", "q1", "--id", f"q1-{i}").exit_code == 0
    assert gdw(runner, redis_url, "submit", "demo_tasks:fast", "--queue", "q2", "--id", "q2-0").exit_code == 0
    result = gdw(runner, redis_url, "cancel", "--state", "pending", "--queue", "q1", "--yes")
    assert result.exit_code == 0 and "cancel: 6 done" in result.stdout
    assert asyncio.run(count(redis_url, TaskStatus.CANCELLED, "q1")) == 6
    assert asyncio.run(count(redis_url, TaskStatus.PENDING, "q2")) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["purge"], "purge needs --state"),
        (["purge", "--state", "pending"], "purge does not act on pending"),
        (["retry"], "retry needs a task id or --state"),
        (["retry", "some-id", "--state", "failed"], "not both"),
        (["retry", "--state", "done"], "unknown state 'done'"),
        (["cancel", "--state", "completed"], "cancel does not act on completed"),
        (["retry", "--state", "failed", "--since", "soon"], "--since"),
        (["cancel", "--state", "pending", "--queue", "a{b}"], "--queue"),
    ],
)
def test_bad_requests_get_one_clear_error(redis_url: str, argv: list[str], message: str) -> None:
    result = gdw(CliRunner(), redis_url, *argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_retry_of_one_failed_task_reruns_it(redis_url: str) -> None:
    runner = CliRunner()
    [task_id] = asyncio.run(seed_failed(redis_url, 1))
    result = gdw(runner, redis_url, "retry", task_id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "pending"
    [rec] = asyncio.run(snapshot(redis_url, [task_id]))
    assert rec.attempts == 0 and [e.type for e in rec.errors] == ["DemoFailure"]
