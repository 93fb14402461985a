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


async def test_a_queue_whose_claims_fail_is_shown_failing(server: RedisServer) -> None:
    """A real worker serving [broken, default] whose 'broken' pending index is a string written by
    hand: the dashboard's status line says FAILING: broken and the queue's state cell says
    FAILING (from the worker's heartbeat), wide and at 80x24 (a '!' by its name); once the key is
    deleted and the queue claims again, both go."""
    from gdw_core.storage.redis import RedisStorage
    from gdw_tui.widgets.tables import QueuesTable

    from .conftest import shown

    def producer() -> TaskQueue:  # (an app closes its queue when it exits: one each)
        return TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url))

    def plain(row: list[Any]) -> list[str]:
        return [c if isinstance(c, str) else c.plain for c in row]

    setup = producer()
    await setup.open_storage()
    await setup.options(queue="broken").submit("demo_tasks:fast", "x")
    await setup.submit("demo_tasks:fast", "on the default queue")
    assert isinstance(setup.storage, RedisStorage)
    pending = setup.storage.keys.index("broken", "pending")
    server.cli("del", pending)
    server.cli("set", pending, "not a zset")
    cmd = [sys.executable, "-m", "gdw_core.cli", "worker", "demo_tasks", "--redis", server.url, "-c", "2",
           "--queues", "broken,default"]  # fmt: skip
    worker = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        async def failing_shown(size: tuple[int, int]) -> None:
            app = GdwApp(producer())
            async with app.run_test(size=size) as pilot:
                screen = dashboard(app)
                summary = screen.query_one("#summary")
                await until(pilot, lambda: "FAILING: broken" in shown(summary, 400), 800)
                table = screen.query_one("#queues", QueuesTable)
                await until(pilot, lambda: "broken" in table.rows and "default" in table.rows, 200)
                cells = plain(table.get_row("broken"))
                assert ("FAILING" in cells) if size[0] == 240 else cells[0].endswith(" !"), cells
                good = plain(table.get_row("default"))
                assert "FAILING" not in good and not good[0].endswith(" !"), good

        await failing_shown((240, 50))  # the queue table wide (a state column)
        await failing_shown((80, 24))  # and narrow
        server.cli("del", pending)
        await setup.options(queue="broken").submit("demo_tasks:fast", "y")
        app = GdwApp(producer())
        async with app.run_test(size=(240, 50)) as pilot:
            screen = dashboard(app)
            summary = screen.query_one("#summary")
            await until(pilot, lambda: screen.snapshot is not None and len(screen.snapshot.workers) == 1, 800)
            await until(pilot, lambda: "FAILING" not in shown(summary, 400), 800)
            table = screen.query_one("#queues", QueuesTable)
            await until(pilot, lambda: "broken" in table.rows and "FAILING" not in plain(table.get_row("broken")))
    finally:
        worker.terminate()
        worker.wait(30)
        await setup.shutdown()


async def test_an_index_that_cannot_be_read_is_shown_failing_with_no_worker(server: RedisServer) -> None:
    """No worker runs, so none reports anything: the completed index of 'broken' is a string
    written by hand, which counts as 0. The dashboard does not show that 0 as the truth: its
    status line says FAILING: broken and the queue's state cell FAILING; after gdw repair both go
    and the completed count is back."""
    from gdw_core.storage.redis import RedisStorage
    from gdw_tui.widgets.tables import QueuesTable

    from .conftest import shown

    setup = TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url))
    await setup.open_storage()
    assert isinstance(setup.storage, RedisStorage)
    await setup.options(queue="broken").submit("demo_tasks:fast", "x")
    await setup.submit("demo_tasks:fast", "on the default queue")
    completed = setup.storage.keys.index("broken", "completed")
    server.cli("set", completed, "not a zset")

    async def look(expect_failing: bool) -> None:
        app = GdwApp(TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url)))
        async with app.run_test(size=(240, 50)) as pilot:
            screen = dashboard(app)
            summary = screen.query_one("#summary")
            table = screen.query_one("#queues", QueuesTable)
            await until(pilot, lambda: "broken" in table.rows and "default" in table.rows, 800)
            if expect_failing:
                await until(pilot, lambda: "FAILING: broken" in shown(summary, 400), 800)
                cells = [c if isinstance(c, str) else c.plain for c in table.get_row("broken")]
                assert "FAILING" in cells, cells
            else:
                assert "FAILING" not in shown(summary, 400)

    await look(True)
    report = await setup.control.repair(["broken"])
    assert [m.status for q in report.queues for m in q.moved_aside] == [TaskStatus.COMPLETED]
    await look(False)
    await setup.shutdown()
