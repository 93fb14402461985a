"""End to end against a real redis-server and two real worker processes (``gdw worker``): submit
from the form, watch the task complete, then drain every worker from the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from gdw_core import TaskQueue, TaskStatus
from gdw_tui.app import GdwApp
from gdw_tui.screens.shutdown import ShutdownScreen
from gdw_tui.screens.submit import SubmitScreen
from tests.support.redis_server import RedisServer

from .conftest import SIZE, until
from .test_actions import notices
from .test_live import dashboard

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


def start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "gdw_core.cli", "worker", "demo_tasks", "--redis", url, "-c", str(concurrency)]
    env = {**os.environ, "GDW_REDIS_URL": url}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_submit_watch_and_drain_two_workers(server: RedisServer) -> None:
    from gdw_core.storage.redis import RedisStorage

    workers = [start_worker(server.url, 2), start_worker(server.url, 3)]
    queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url))
    app = GdwApp(queue)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = dashboard(app)
            await until(pilot, lambda: screen.snapshot is not None and len(screen.snapshot.workers) == 2, 800)
            assert screen.query_one("#badge").state == "connected"

            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
            form = app.screen
            await until(pilot, lambda: "demo_tasks:fast" in form.names)
            form.query_one("#name").value = "demo_tasks:fast"
            await pilot.press(*'["from the form"]')
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any(n.startswith("submitted") for n in notices(app)))
            note = next(n for n in notices(app) if n.startswith("submitted"))
            task_id = note.split("task ", 1)[1].split(" ", 1)[0]

            await pilot.press("6")  # completed
            tasks = screen.query_one("#tasks")
            await until(pilot, lambda: task_id in tasks.rows, 800)
            rec = await queue.status(task_id)
            assert rec.status is TaskStatus.COMPLETED and rec.result == "from the form"

            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ShutdownScreen))
            dialog: Any = app.screen
            dialog.query_one("#targets").highlighted = 0  # all workers
            await pilot.pause()
            dialog.query_one("#drain").press()
            await until(pilot, lambda: screen.drain is not None)
            await until(pilot, lambda: all(w.poll() is not None for w in workers), 1200)
            await until(pilot, lambda: any(n.startswith("drained") for n in notices(app)), 800)
            assert [w.returncode for w in workers] == [0, 0]
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(10)
