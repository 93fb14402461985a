"""``gdw worker --log-format json``: every line the worker process writes is one JSON object, and
the lines of a task (its own logging, sync or async, and the worker's line for its outcome) carry
the task id, name, queue, attempt and worker id; no line carries the Redis password."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.prod.deployment import spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.prod, pytest.mark.redis]
PASSWORD = "pw-logs-7Hq2"

LOG_TASKS = '''
"""Tasks that log, for the JSON log test."""
import logging

from gdw_core import task
from gdw_core.retry import RetryPolicy

log = logging.getLogger("log_tasks")


@task
async def chatty_async(n):
    log.info("async says %s", n)
    return n


@task
def chatty_sync(n):
    log.info("sync says %s", n)
    return n


@task(retry=RetryPolicy(max_retries=0))
def broken(n):
    log.warning("about to fail %s", n)
    raise ValueError("broken on purpose, see redis://:%s@nowhere:1/0" % "pw-logs-7Hq2")
'''

DONE = (TaskStatus.COMPLETED, TaskStatus.FAILED)


async def wait_final(queue: TaskQueue, ids: list[str], timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        states = [(await queue.status(i)).status for i in ids]
        if all(s in DONE for s in states):
            return
        assert loop.time() < deadline, states
        await asyncio.sleep(0.1)


def lines_of(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"line {n} of the worker's output is not JSON: {line!r}")
        assert isinstance(obj, dict) and {"time", "level", "logger", "message"} <= obj.keys(), line
        out.append(obj)
    return out


async def test_every_line_is_json_and_task_lines_name_the_task(task_dir: Path, tmp_path: Path) -> None:
    (task_dir / "log_tasks.py").write_text(LOG_TASKS)
    with RedisServer(password=PASSWORD) as server:
        secret = tmp_path / "redis.url"
        secret.write_text(server.url + "\n")
        worker = spawn_gdw_worker(
            task_dir, "log_tasks", "--redis-file", str(secret), "--log-format", "json", "--log-level", "debug"
        )
        producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url))
        try:
            ids = {
                "async": await producer.submit("log_tasks:chatty_async", 1),
                "sync": await producer.submit("log_tasks:chatty_sync", 2),
                "broken": await producer.submit("log_tasks:broken", 3),
            }
            await wait_final(producer, list(ids.values()))
            workers = [w.id for w in await producer.storage.workers()]
        finally:
            stop(worker)
            await producer.shutdown()
    text = (task_dir / "worker.log").read_text()
    assert PASSWORD not in text
    lines = lines_of(task_dir / "worker.log")
    assert len(workers) == 1
    by_message = {line["message"]: line for line in lines}
    expected = {
        "async says 1": ("async", "log_tasks:chatty_async"),
        "sync says 2": ("sync", "log_tasks:chatty_sync"),
        "about to fail 3": ("broken", "log_tasks:broken"),
    }
    for message, (key, name) in expected.items():
        line = by_message.get(message)
        assert line is not None, f"{message!r} not logged: {text}"
        assert line["task_id"] == ids[key] and line["task"] == name, line
        assert line["queue"] == "default" and line["attempt"] == 1 and line["worker"] == workers[0], line
    outcomes = {line["task_id"]: line for line in lines if line["logger"] == "gdw.task"}
    assert set(outcomes) == set(ids.values()), outcomes
    assert outcomes[ids["sync"]]["outcome"] == "completed"
    assert outcomes[ids["broken"]]["outcome"] == "failed" and outcomes[ids["broken"]]["level"] == "warning"
    for line in outcomes.values():
        assert line["worker"] == workers[0] and line["queue"] == "default" and line["attempt"] == 1
        # how long the attempt ran, said as such (not "retrying in 0.05s", a wait it is not)
        assert f"attempt 1 {line['outcome']} after " in line["message"], line
        assert isinstance(line["duration"], float) and line["duration"] >= 0, line
    # lines outside any task carry the worker but no task fields
    startup = [line for line in lines if line["logger"] == "gdw.workerprocess" and "concurrency" in line["message"]]
    assert startup and "task_id" not in startup[0] and startup[0]["worker"] == workers[0]
