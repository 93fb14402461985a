"""Least privilege: the ACL rules docs/deployment.md gives for a worker, a producer and a read-only
monitor, each applied with ACL SETUSER to a real redis-server and used by real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.prod.deployment import ROOT, spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.prod, pytest.mark.redis]

#: the rules of docs/deployment.md, for the default namespace "gdw" (the test checks they are there)
RULES = {
    "gdw-worker": (
        "resetkeys ~gdw:* resetchannels -@all +@read +@write -@dangerous "
        "+fcall +function|load +evalsha +script|load +time +ping +hello +auth +select"
    ),
    "gdw-producer": (
        "resetkeys ~gdw:{*}:[^g]* ~gdw:{gdw}:g:queues %R~gdw:* resetchannels -@all +@read +@write "
        "-@dangerous +fcall +function|load +evalsha +script|load +time +ping +hello +auth +select"
    ),
    "gdw-monitor": "resetkeys %R~gdw:* resetchannels -@all +@read -@dangerous +time +ping +hello +auth +select",
}
PASSWORD = "acl-pw-7Tq"


def url_of(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        for user, rules in RULES.items():
            assert server.cli("acl", "setuser", user, "reset", "on", f">{PASSWORD}", *rules.split()) == "OK"
        yield server


def as_user(server: RedisServer, user: str, *command: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(server.port), "--user", user, "--pass", PASSWORD, "--no-auth-warning", *command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return (out.stdout + out.stderr).strip()


def gdw(server: RedisServer, user: str, *args: str) -> tuple[int, str]:
    """A ``gdw`` command as ``user``, the URL (and its password) from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env.update(PYTHONPATH=str(ROOT), GDW_REDIS_URL=url_of(server, user), COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "gdw_core.cli", *args], env=env, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def one_clear_line(output: str) -> bool:
    lines = [line for line in output.splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in output


def test_the_rules_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    for user, rules in RULES.items():
        assert f"ACL SETUSER {user} on >PASSWORD {rules}" in text, user


async def wait_final(queue: TaskQueue, ids: list[str], timeout: float = 60) -> dict[str, TaskStatus]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        states = {i: (await queue.status(i)).status for i in ids}
        if all(s is TaskStatus.COMPLETED for s in states.values()):
            return states
        assert loop.time() < deadline, states
        await asyncio.sleep(0.1)


async def test_a_producer_submits_and_a_worker_runs_with_their_own_users(
    acl_server: RedisServer, task_dir: Path
) -> None:
    acl_server.cli("flushall")
    acl_server.cli("script", "flush")  # the first caller must load the scripts itself
    acl_server.cli("function", "flush")  # ... and the function library
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url_of(acl_server, "gdw-producer")))
    worker = spawn_gdw_worker(task_dir, "--redis", url_of(acl_server, "gdw-worker"), "--lease", "2s", "-c", "4")
    try:
        ids = [await producer.submit("prod_tasks:quick", i) for i in range(5)]
        ids += await producer.submit_many("prod_tasks:quick", [(i,) for i in range(5, 10)])
        ids.append(await producer.schedule("prod_tasks:quick", 0.5, 10))
        ids.append(await producer.options(queue="other").submit("prod_tasks:quick", 11))
        worker2 = spawn_gdw_worker(
            task_dir, "--redis", url_of(acl_server, "gdw-worker"), "--queues", "other", log_name="worker2"
        )
        try:
            await wait_final(producer, ids)
        finally:
            stop(worker2)
        assert [await producer.result(i, timeout=5) for i in ids] == [i * 2 for i in range(12)]
        # the documented users take the fast path: they loaded gdw's function library themselves
        assert "gdw_" in str(acl_server.cli("function", "list"))
        # the producer reads its tasks, but cannot act on workers or pause queues
        code, out = gdw(acl_server, "gdw-producer", "pause", "default")
        assert code == 3 and one_clear_line(out) and "permission" in out.lower(), out
        code, out = gdw(acl_server, "gdw-producer", "shutdown")
        assert code == 3 and one_clear_line(out) and "permission" in out.lower(), out
        assert as_user(acl_server, "gdw-producer", "flushdb").startswith("NOPERM")
        # an operator with the worker's rules repairs a queue whose index was overwritten by hand
        assert acl_server.cli("set", "gdw:{default}:p", "garbage") == "OK"
        code, out = gdw(acl_server, "gdw-worker", "repair", "--queue", "default")
        assert code == 0 and "Traceback" not in out, out
        assert acl_server.cli("type", "gdw:{default}:p") in ("zset", "none")
        assert any(k.startswith("gdw:{default}:quarantine:") for k in acl_server.cli("keys", "*").split())
        assert as_user(acl_server, "gdw-producer", "set", "other-app:key", "1").startswith("NOPERM")
    finally:
        stop(worker)
        await producer.shutdown()
    assert worker.returncode == 0
    log = (task_dir / "worker.log").read_text()
    assert "NOPERM" not in log and "permission" not in log.lower(), log
    assert as_user(acl_server, "gdw-worker", "flushall").startswith("NOPERM")
    assert as_user(acl_server, "gdw-worker", "set", "other-app:key", "1").startswith("NOPERM")


async def test_a_read_only_monitor_reads_everything_and_acts_on_nothing(
    acl_server: RedisServer, task_dir: Path
) -> None:
    acl_server.cli("flushall")
    acl_server.cli("script", "flush")
    admin = TaskQueue(worker_count=0, storage=RedisStorage.from_url(acl_server.url))
    worker = spawn_gdw_worker(task_dir, "--redis", url_of(acl_server, "gdw-worker"))
    try:
        done = await admin.submit("prod_tasks:quick", 1)
        await wait_final(admin, [done])
        waiting = await admin.options(queue="idle").submit("prod_tasks:quick", 2)
        # no write and no script permission at all
        for command in (["set", "gdw:x", "1"], ["script", "load", "return 1"], ["evalsha", "0" * 40, "0"]):
            assert as_user(acl_server, "gdw-monitor", *command).startswith("NOPERM"), command
        for args in (["stats"], ["ls"], ["ls", "--state", "completed"], ["status", done], ["workers"]):
            code, out = gdw(acl_server, "gdw-monitor", *args)
            assert code == 0, (args, out)
        code, out = gdw(acl_server, "gdw-monitor", "status", done)
        assert "completed" in out
        code, out = gdw(acl_server, "gdw-monitor", "workers")
        assert "running" in out or "idle" in out or "1" in out
        for args in (
            ["cancel", waiting],
            ["pause", "idle"],
            ["retry", done],
            ["purge", "--state", "completed", "--yes"],
            ["repair", "--queue", "idle"],
        ):
            code, out = gdw(acl_server, "gdw-monitor", *args)
            assert code == 3 and one_clear_line(out) and "permission" in out.lower(), (args, out)
        assert (await admin.status(waiting)).status is TaskStatus.PENDING  # nothing changed
        assert (await admin.status(done)).status is TaskStatus.COMPLETED
        await metrics_as_monitor(url_of(acl_server, "gdw-monitor"))
        await dashboard_read_only(url_of(acl_server, "gdw-monitor"), done)
    finally:
        stop(worker)
        await admin.shutdown()


async def metrics_as_monitor(url: str) -> None:
    """``gdw metrics`` as the monitor: its /metrics shows the queues' depths."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.prod.test_metrics import http
    from tests.support.redis_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env.update(PYTHONPATH=str(ROOT), GDW_REDIS_URL=url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdw_core.cli", "metrics", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if (await asyncio.to_thread(http, port, "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.1)
        code, text = await asyncio.to_thread(http, port, "/metrics")
        assert code == 200, text
        depth = {
            (s.labels["queue"], s.labels["state"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "gdw_queue_tasks"
        }
        assert depth[("idle", "pending")] == 1 and depth[("default", "completed")] == 1, depth
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


async def dashboard_read_only(url: str, task_id: str) -> None:
    """``gdw-tui --read-only`` as the monitor: it connects, and its task table shows the task."""
    from gdw_tui.app import GdwApp
    from gdw_tui.screens.dashboard import DashboardScreen

    queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
    app = GdwApp(queue, read_only=True, close_queue=False)  # the queue is shut after the app is gone
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        for _ in range(400):
            if screen.snapshot is not None and screen.query_one("#badge").state == "connected":
                break
            await pilot.pause(0.05)
        assert screen.query_one("#badge").state == "connected"
        await pilot.press("6")  # completed
        tasks = screen.query_one("#tasks")
        for _ in range(400):
            if task_id in tasks.rows:
                break
            await pilot.pause(0.05)
        assert task_id in tasks.rows
        assert app.sub_title.endswith("read-only")
    await queue.shutdown()
