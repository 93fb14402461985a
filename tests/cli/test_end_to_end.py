"""End to end: a real redis-server, a real ``gdw worker demo_tasks`` process, and the ``gdw``
commands an operator would type. Waits are bounded polls on observable state, never sleeps that
assume how fast something runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gdw_core.cli.app import app
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

GDW = [sys.executable, "-m", "gdw_core.cli"]
WORKER_OPTIONS = ("--queues", "default,other", "--shutdown-timeout", "5s")
PATIENCE = 60.0  # upper bound for any single wait; a healthy run is far below it


def until(check: Callable[[], Any], what: str) -> Any:
    return wait_until(check, what, PATIENCE, 0.05)


class Gdw:
    def __init__(self, runner: CliRunner, url: str) -> None:
        self.runner = runner
        self.url = url

    def __call__(self, *argv: str) -> Any:
        return self.runner.invoke(app, [*argv, "--redis", self.url])

    def json(self, *argv: str) -> Any:
        result = self(*argv, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def state(self, task_id: str) -> str:
        return str(self.json("status", task_id)["status"])


@pytest.fixture
def worker_process(redis_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    pytest.importorskip("gdw_core.workerprocess", reason="run_worker is not there yet")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [*GDW, "worker", "demo_tasks", "--redis", redis_url, "--concurrency", "4", *WORKER_OPTIONS],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.fixture
def gdw(runner: CliRunner, redis_url: str, worker_process: subprocess.Popen[bytes]) -> Gdw:
    g = Gdw(runner, redis_url)
    until(lambda: g.json("workers")["workers"], "the worker to register")
    return g


def test_submit_wait_completes_and_prints_the_result(gdw: Gdw, redis_url: str) -> None:
    # a real `gdw` process, as a shell would run it
    out = subprocess.run(
        [*GDW, "submit", "demo_tasks:resize", "photo.jpg", "800", "--wait", "--redis", redis_url],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"input": "photo.jpg", "output": "photo_800w.jpg", "width": 800, "height": 600}
    assert "warning" not in out.stderr  # the worker advertises demo_tasks:resize
    rec = gdw.json("submit", "demo_tasks:fast", "--kw", "value:=[1, 2]", "--wait")
    assert rec["status"] == "completed" and rec["result"] == [1, 2]


def test_failing_task_exits_1_with_its_error(gdw: Gdw) -> None:
    argv = ["demo_tasks:failing", "--kw", "message=boom here", "--retries", "2", "--backoff", "immediate"]
    result = gdw("submit", *argv, "--wait")
    assert result.exit_code == 1
    assert "failed after 3 attempts: DemoFailure: boom here" in result.stderr
    rec = gdw.json("ls", "--state", "failed")["tasks"][0]
    assert [e["type"] for e in rec["errors"]] == ["DemoFailure"] * rec["max_attempts"]


def test_wait_timeout_exits_5(gdw: Gdw) -> None:
    argv = ["demo_tasks:cancellable", "--kw", "steps:=100000", "--kw", "step_seconds:=0.05", "--id", "long-one"]
    result = gdw("submit", *argv, "--wait", "--wait-timeout", "200ms")
    assert result.exit_code == 5, result.output
    assert "--wait-timeout" in result.stderr
    assert gdw.state("long-one") in ("pending", "claimed", "running")  # waiting gave up; the task did not
    assert gdw("cancel", "long-one").exit_code == 0
    until(lambda: gdw.state("long-one") == "cancelled", "the task to be cancelled")


def test_strict_accepts_advertised_names_and_refuses_others(gdw: Gdw) -> None:
    assert gdw("submit", "demo_tasks:fast", "--strict").exit_code == 0
    refused = gdw("submit", "demo_tasks:nope", "--strict")
    assert refused.exit_code == 4 and "demo_tasks:nope" in refused.stderr


def test_cancel_a_running_task(gdw: Gdw) -> None:
    task_id = gdw.json("submit", "demo_tasks:cancellable", "--kw", "steps:=10000", "--kw", "step_seconds:=0.05")[
        "submitted"
    ]["id"]
    until(lambda: gdw.state(task_id) == "running", "the task to start")
    result = gdw("cancel", task_id)
    assert result.exit_code == 0 and "cancel requested" in result.stdout
    until(lambda: gdw.state(task_id) == "cancelled", "the worker to stop the task")
    rec = gdw.json("status", task_id)
    assert rec["errors"][-1]["type"] == "TaskCancelled"


def test_pause_keeps_tasks_waiting_until_resume(gdw: Gdw) -> None:
    assert gdw("pause", "default").exit_code == 0
    held = gdw.json("submit", "demo_tasks:fast", "1")["submitted"]["id"]
    passed = gdw.json("submit", "demo_tasks:fast", "2", "--queue", "other")["submitted"]["id"]
    # the worker claims from both queues: once it ran the other one, it has skipped the paused one
    until(lambda: gdw.state(passed) == "completed", "the unpaused queue's task")
    assert gdw.state(held) == "pending"
    assert gdw("resume", "default").exit_code == 0
    until(lambda: gdw.state(held) == "completed", "the resumed queue's task")


def test_graceful_shutdown_lets_running_tasks_finish(gdw: Gdw, worker_process: subprocess.Popen[bytes]) -> None:
    task_id = gdw.json("submit", "demo_tasks:progress", "--kw", "steps:=5", "--kw", "step_seconds:=0.2")["submitted"][
        "id"
    ]
    until(lambda: gdw.state(task_id) == "running", "the task to start")
    result = gdw("shutdown", "--timeout", "30s")
    assert result.exit_code == 0 and "1 live worker(s)" in result.stdout
    assert worker_process.wait(PATIENCE) == 0
    rec = gdw.json("status", task_id)
    assert rec["status"] == "completed" and rec["progress"] == {"done": 5, "of": 5}


def test_fanout_submits_subtasks_through_the_workers_redis(gdw: Gdw) -> None:
    rec = gdw.json("submit", "demo_tasks:fanout", "3", "--wait")
    assert rec["status"] == "completed"
    for child in rec["result"]:
        until(lambda child=child: gdw.state(child) == "completed", "the subtasks")


def test_stats_and_workers_see_the_worker(gdw: Gdw) -> None:
    workers = gdw.json("workers")["workers"]
    assert len(workers) == 1
    assert "demo_tasks:resize" in workers[0]["tasks"]
    assert workers[0]["concurrency"] == 4
    stats = gdw.json("stats")
    assert stats["workers"] == 1 and stats["slots"] == 4


def test_shutdown_now_gives_running_tasks_back(gdw: Gdw, worker_process: subprocess.Popen[bytes]) -> None:
    task_id = gdw.json("submit", "demo_tasks:cancellable", "--kw", "steps:=100000", "--kw", "step_seconds:=0.05")[
        "submitted"
    ]["id"]
    until(lambda: gdw.state(task_id) == "running", "the task to start")
    assert gdw("shutdown", "--now").exit_code == 0
    assert worker_process.wait(PATIENCE) == 0
    rec = gdw.json("status", task_id)
    assert rec["status"] in ("retrying", "pending")  # handed back, never lost
    assert rec["errors"][-1]["type"] == "Interrupted"


def test_sigterm_is_a_graceful_shutdown(gdw: Gdw, worker_process: subprocess.Popen[bytes]) -> None:
    task_id = gdw.json("submit", "demo_tasks:progress", "--kw", "steps:=3", "--kw", "step_seconds:=0.2")["submitted"][
        "id"
    ]
    until(lambda: gdw.state(task_id) == "running", "the task to start")
    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(PATIENCE) == 0
    assert gdw.state(task_id) == "completed"
    after = gdw.json("workers")
    assert after["live"] == 0 and all(w["state"] == "stopped" for w in after["workers"])  # kept as history


def test_burst_worker_drains_the_queue_and_exits(runner: CliRunner, redis_url: str) -> None:
    pytest.importorskip("gdw_core.workerprocess")
    g = Gdw(runner, redis_url)
    ids = [g.json("submit", "demo_tasks:fast", str(i))["submitted"]["id"] for i in range(3)]
    done = subprocess.run(
        [*GDW, "worker", "demo_tasks", "--burst", "--redis", redis_url], capture_output=True, timeout=PATIENCE
    )
    assert done.returncode == 0, done.stderr
    assert [g.json("status", i)["result"] for i in ids] == [0, 1, 2]


def test_worker_with_a_module_that_does_not_import(redis_url: str) -> None:
    pytest.importorskip("gdw_core.workerprocess")
    done = subprocess.run(
        [*GDW, "worker", "no_such_module_here", "--redis", redis_url], capture_output=True, text=True, timeout=PATIENCE
    )
    assert done.returncode == 2
    assert "no_such_module_here" in done.stderr and "Traceback" not in done.stderr


def test_status_watch_returns_when_the_task_ends(gdw: Gdw) -> None:
    task_id = gdw.json("submit", "demo_tasks:progress", "--kw", "steps:=3", "--kw", "step_seconds:=0.1")["submitted"][
        "id"
    ]
    result = gdw("status", task_id, "--watch")  # not a terminal: waits quietly, prints the end state once
    assert result.exit_code == 0
    assert "completed" in result.stdout and '{"done": 3, "of": 3}' in result.stdout
