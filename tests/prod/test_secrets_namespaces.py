"""Secrets stay out of sight (argv, the worker's and its tasks' environments, logs) and namespaces
on one Redis never see each other's tasks, workers or commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gdw_core import TaskQueue
from gdw_core.cli.app import app
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.prod.deployment import spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.prod, pytest.mark.redis]
PASSWORD = "pw-Zq81xT"


def proc_text(pid: int, what: str) -> str:
    return Path(f"/proc/{pid}/{what}").read_bytes().decode("utf-8", "replace")


async def wait_done(queue: TaskQueue, task_id: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await queue.status(task_id)).status is not TaskStatus.COMPLETED:
        assert loop.time() < deadline, await queue.status(task_id)
        await asyncio.sleep(0.05)


async def gdw(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gdw_core.cli", *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


def worker_a_id(out: str) -> str | None:
    return "id" if '"id"' in out else None


@pytest.mark.parametrize("source", ["--redis-file", "GDW_REDIS_FILE", "GDW_REDIS_URL"])
async def test_no_password_in_argv_environ_or_task_environment(task_dir: Path, tmp_path: Path, source: str) -> None:
    with RedisServer(password=PASSWORD) as server:
        secret_file = tmp_path / "redis.url"
        secret_file.write_text(f"# mounted secret\n{server.url}\n")
        args: list[str] = []
        env: dict[str, str] = {}
        if source == "--redis-file":
            args = ["--redis-file", str(secret_file)]
        elif source == "GDW_REDIS_FILE":
            env = {"GDW_REDIS_FILE": str(secret_file)}
        else:
            env = {"GDW_REDIS_URL": server.url}
        worker = spawn_gdw_worker(task_dir, *args, "--log-level", "debug", env=env)
        storage = RedisStorage.from_url(server.url)
        producer = TaskQueue(worker_count=0, storage=storage)
        try:
            task_id = await producer.submit("prod_tasks:environment")
            await wait_done(producer, task_id)
            seen = await producer.result(task_id)
            assert PASSWORD not in proc_text(worker.pid, "cmdline")
            if source != "GDW_REDIS_URL":  # an environment the operator gave holds what they put there
                assert PASSWORD not in proc_text(worker.pid, "environ")
            assert PASSWORD not in repr(seen["own"]), "the task's environment carries the password"
            assert PASSWORD not in seen["child"], "what the task spawns inherits the password"
            # the task can still reach Redis: the URL is in a file only this user reads
            path = seen["own"]["GDW_REDIS_FILE"]
            if source == "GDW_REDIS_URL":  # a private copy the worker made
                assert oct(os.stat(path).st_mode & 0o777) == "0o600"
            else:  # the operator's own secret file
                assert path == str(secret_file)
        finally:
            stop(worker)
            await producer.shutdown()
        log = (task_dir / "worker.log").read_text()
        assert PASSWORD not in log and "worker" in log


def test_cli_reads_the_url_from_a_file_and_never_prints_the_password(tmp_path: Path) -> None:
    with RedisServer(password=PASSWORD) as server:
        secret_file = tmp_path / "url"
        secret_file.write_text(server.url.replace(PASSWORD, "wrong-" + PASSWORD) + "\n")
        runner = CliRunner()
        out = runner.invoke(app, ["--redis-file", str(secret_file), "stats"])
        assert out.exit_code == 3 and PASSWORD not in out.output, out.output
        secret_file.write_text(server.url + "\n")
        assert runner.invoke(app, ["--redis-file", str(secret_file), "workers"]).exit_code == 0
        ok = runner.invoke(app, ["workers"], env={"GDW_REDIS_FILE": str(secret_file), "GDW_REDIS_URL": ""})
        assert ok.exit_code == 0, ok.output
        missing = runner.invoke(app, ["--redis-file", str(tmp_path / "nope"), "stats"])
        assert missing.exit_code != 0 and "nope" in missing.output


async def test_two_namespaces_never_see_each_other(redis_server: RedisServer, task_dir: Path) -> None:
    redis_server.cli("flushall")
    a = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url, namespace="app-a"))
    b = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url, namespace="app-b"))
    worker_a = spawn_gdw_worker(task_dir, "--redis", redis_server.url, "--namespace", "app-a", log_name="wa")
    try:
        in_a = await a.submit("prod_tasks:quick", 1)
        in_b = await b.submit("prod_tasks:quick", 2)
        await wait_done(a, in_a)
        await asyncio.sleep(0.5)
        assert (await b.status(in_b)).status is TaskStatus.PENDING  # a's worker never claims b's task
        assert await b.storage.get(in_a) is None and await a.storage.get(in_b) is None
        assert [w.id for w in await a.storage.workers()] and not await b.storage.workers()
        code, out = await gdw("--namespace", "app-b", "workers", "--redis", redis_server.url, "--json")
        assert code == 0 and worker_a_id(out) is None, out
        code, out = await gdw("--namespace", "app-a", "workers", "--redis", redis_server.url, "--json")
        assert code == 0 and worker_a_id(out), out
        # a shutdown command in b reaches no worker of a
        code, out = await gdw("--namespace", "app-b", "shutdown", "--redis", redis_server.url)
        await asyncio.sleep(1.5)
        assert code == 0 and worker_a.poll() is None, out
        code, out = await gdw("--namespace", "a{b}", "workers", "--redis", redis_server.url)
        assert code == 2 and "namespace" in out
    finally:
        stop(worker_a)
        await a.shutdown()
        await b.shutdown()
    assert worker_a.returncode == 0
