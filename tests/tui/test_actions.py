"""Every operator action, driven by keys (and the palette), against a real embedded queue."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button, Input, Select

from gdw_core import RetryPolicy, TaskQueue, TaskStatus
from gdw_tui.palette import GdwCommands
from gdw_tui.screens.confirm import ConfirmScreen
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.shutdown import ShutdownScreen
from gdw_tui.screens.submit import SubmitScreen
from gdw_tui.widgets.panels import DrainBanner
from gdw_tui.widgets.tables import TasksTable

from .conftest import SIZE, shown, until
from .test_live import dashboard


def notices(app: Any) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def select_task(pilot: Any, app: Any, tab: str, task_id: str) -> TasksTable:
    await pilot.press(tab)
    tasks = dashboard(app).query_one("#tasks", TasksTable)
    await until(pilot, lambda: task_id in tasks.rows)
    tasks.move_cursor(row=tasks.get_row_index(task_id))
    await pilot.pause()
    assert tasks.selected_key == task_id
    return tasks


async def test_submit_now_from_the_form(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        form.query_one("#name", Select).value = "demo_tasks:fast"
        await pilot.press(*'["hello"')
        assert "not JSON" in shown(form.query_one("#args-check"))
        await pilot.press("ctrl+s")  # refused while invalid
        assert isinstance(app.screen, SubmitScreen)
        await pilot.press("]")
        assert "1 arg(s)" in shown(form.query_one("#args-check"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(n.startswith("submitted") for n in notices(app)))
        note = next(n for n in notices(app) if n.startswith("submitted"))
        task_id = note.split("task ", 1)[1].split(" ", 1)[0]
        rec = await queue.wait(task_id, timeout=10)
        assert rec.status is TaskStatus.COMPLETED
        assert rec.result == "hello"


async def test_submit_in_and_every_preview(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        form.query_one("#name", Select).value = "demo_tasks:heartbeat"
        form.query_one("#when-kind", Select).value = "every"
        await pilot.pause()
        when = form.query_one("#when", Input)
        when.focus()
        await pilot.press(*"nonsense")
        assert "bad duration" in shown(form.query_one("#when-check"))
        when.value = "90s"
        await pilot.pause()
        assert "next:" in shown(form.query_one("#when-check"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("recurring entry" in n for n in notices(app)))
        entries = await queue.inspect.recurring()
        assert [e.interval for e in entries] == [90.0]

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        form.query_one("#name", Select).value = "demo_tasks:fast"
        form.query_one("#when-kind", Select).value = "in"
        await pilot.pause()
        form.query_one("#when", Input).value = "1h"
        await pilot.pause()
        await pilot.click("#send")
        await until(pilot, lambda: len(queue.storage._tasks) >= 1 if hasattr(queue.storage, "_tasks") else True)
        await until(pilot, lambda: sum(1 for n in notices(app) if n.startswith("submitted")) == 2)
        scheduled = await queue.inspect.tasks(TaskStatus.SCHEDULED)
        assert [t.name for t in scheduled] == ["demo_tasks:fast"]


async def test_submit_form_escape_submits_nothing(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SubmitScreen))
        assert (await queue.inspect.counts()).get(TaskStatus.PENDING, 0) == 0


async def test_cancel_asks_first(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.schedule("demo_tasks:fast", 3600)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "2", task_id)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert (await queue.status(task_id)).status is TaskStatus.SCHEDULED
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: any("cancelled" in n for n in notices(app)))
        assert (await queue.status(task_id)).status is TaskStatus.CANCELLED


async def test_cancel_a_running_task(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.submit("demo_tasks:cancellable", steps=100, step_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "4", task_id)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#yes")
        rec = await queue.wait(task_id, timeout=10)
        assert rec.status is TaskStatus.CANCELLED


async def test_retry_now(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.schedule("demo_tasks:fast", 3600, "later")
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "2", task_id)
        await pilot.press("r")
        rec = await queue.wait(task_id, timeout=10)
        assert rec.result == "later"
        await until(pilot, lambda: any("due now" in n for n in notices(app)))


async def test_retry_now_on_a_finished_task_says_so(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.submit("demo_tasks:fast", 1)
    await queue.wait(task_id, timeout=10)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "6", task_id)
        await pilot.press("r")
        await until(pilot, lambda: any("was not retried" in n and "completed" in n for n in notices(app)))


async def test_retry_re_runs_a_failed_task_with_its_history(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.options(retry=RetryPolicy(max_retries=0)).submit("demo_tasks:failing")
    first = await queue.wait(task_id, timeout=10)
    assert first.status is TaskStatus.FAILED
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "7", task_id)
        await pilot.press("r")
        await until(pilot, lambda: any("due now" in n for n in notices(app)))
    again = await queue.wait(task_id, timeout=10)
    assert again.status is TaskStatus.FAILED and len(again.errors) == 2  # ran again; history kept


async def test_pause_and_resume(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: (screen.snapshot is not None and bool(screen.snapshot.queues)) or True)
        await pilot.press("p")
        await until(pilot, lambda: any("paused" in n for n in notices(app)))
        infos = {q.name: q for q in await queue.inspect.queues()}
        assert infos["default"].paused
        task_id = await queue.submit("demo_tasks:fast", 5)
        await until(pilot, lambda: screen.snapshot is not None and any(q.paused for q in screen.snapshot.queues))
        assert "PAUSED" in shown(screen.query_one("#summary"))
        assert (await queue.status(task_id)).status is TaskStatus.PENDING
        await pilot.press("p")
        await until(pilot, lambda: any("resumed" in n for n in notices(app)))
        assert (await queue.wait(task_id, timeout=10)).status is TaskStatus.COMPLETED


async def test_shutdown_a_worker_confirms_then_drains(queue: TaskQueue, make_app: Any) -> None:
    app = make_app(close_queue=False)
    task_id = await queue.submit("demo_tasks:cancellable", steps=10, step_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None and bool(screen.snapshot.workers))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ShutdownScreen))
        dialog = app.screen
        await until(pilot, lambda: task_id[:8] in shown(dialog.query_one("#inflight")))
        dialog.query_one("#timeout", Input).value = "30s"
        dialog.query_one("#drain", Button).press()
        await until(pilot, lambda: screen.drain is not None)
        assert screen.drain.worker is None or screen.drain.worker == "worker-a"
        banner = screen.query_one("#drain-banner", DrainBanner)
        await until(pilot, lambda: "draining" in shown(banner))
        assert "task(s) in flight" in shown(banner) and "left" in shown(banner)
        await until(pilot, lambda: queue.closed)
        await queue.wait_closed()
        assert (await queue.status(task_id)).status is TaskStatus.COMPLETED  # it finished first
        await until(pilot, lambda: any(n.startswith("drained") for n in notices(app)))


async def test_shutdown_dialog_back_does_nothing(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None and bool(screen.snapshot.workers))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ShutdownScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert screen.drain is None and not queue.closed


async def test_detail_shows_errors_traceback_and_plan(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.submit("demo_tasks:failing", "boom")
    rec = await queue.wait(task_id, timeout=10)
    assert rec.status is TaskStatus.FAILED
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "7", task_id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        detail = app.screen
        await until(pilot, lambda: detail.record is not None)
        errors = shown(detail.query_one("#errors"))
        assert "attempt 1" in errors and "boom" in errors and "Traceback" in errors
        assert "finished" in shown(detail.query_one("#plan"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TaskDetailScreen))


async def test_detail_of_a_scheduled_task_shows_the_backoff_plan(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.schedule("demo_tasks:flaky", 3600)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "2", task_id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen) and app.screen.record is not None)
        plan = shown(app.screen.query_one("#plan"))
        assert "exponential" in plan and "retry 1: +0.5s" in plan and "retry 4: +4s" in plan
        await pilot.press("r")  # retry now from the detail screen
        await until(pilot, lambda: any("due now" in n for n in notices(app)))


async def test_read_only_disables_every_action(queue: TaskQueue, make_app: Any) -> None:
    app = make_app(read_only=True)
    task_id = await queue.schedule("demo_tasks:fast", 3600)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "2", task_id)
        for key in ("s", "c", "r", "p", "d"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is dashboard(app)
        assert (await queue.status(task_id)).status is TaskStatus.SCHEDULED
        assert not any(q.paused for q in await queue.inspect.queues())
        titles = [c.title for c in GdwCommands(app.screen).commands()]
        assert "Filter tasks" in titles and "Submit a task" not in titles
        footer_keys = {b.key for (_, b, enabled, _) in app.screen.active_bindings.values() if enabled}
        assert "s" not in footer_keys and "d" not in footer_keys


async def test_command_palette_offers_the_actions(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        titles = [c.title for c in GdwCommands(app.screen).commands()]
        for wanted in ("Submit a task", "Cancel the selected task", "Pause or resume the queue", "Shut down workers"):
            assert wanted in titles
        # gdw's own actions come first; Textual's Keys / Maximize / Screenshot are not offered
        assert titles[0] == "Submit a task" and titles[-2:] == ["Theme", "Quit"]
        assert not {"Keys", "Maximize", "Screenshot"} & set(titles)
        await pilot.press("ctrl+p")
        await pilot.press(*"Submit a")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))


async def test_stop_a_recurring_entry(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    await queue.schedule_recurring("demo_tasks:heartbeat", interval=600, entry_id="every-10m")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        table = dashboard(app).query_one("#recurring")
        await until(pilot, lambda: "every-10m" in table.rows)
        table.focus()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: "every-10m" not in table.rows)
        assert await queue.inspect.recurring() == []


async def test_one_queue_only(queue: TaskQueue, make_app: Any) -> None:
    app = make_app(queue_name="images")
    mine = await queue.options(queue="images").schedule("demo_tasks:resize", 3600, "a.jpg", 10)
    other = await queue.schedule("demo_tasks:fast", 3600)
    async with app.run_test(size=SIZE) as pilot:
        tasks = await select_task(pilot, app, "2", mine)
        assert other not in tasks.rows
        await pilot.press("p")
        await until(pilot, lambda: any("queue images paused" in n for n in notices(app)))
        paused = {q.name: q.paused for q in await queue.inspect.queues()}
        assert paused["images"] and not paused.get("default", False)


async def test_stop_now_interrupts_and_gives_work_back(queue: TaskQueue, make_app: Any) -> None:
    app = make_app(close_queue=False)
    task_id = await queue.submit("demo_tasks:cancellable", steps=600, step_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await select_task(pilot, app, "4", task_id)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ShutdownScreen))
        app.screen.query_one("#now", Button).press()
        await until(pilot, lambda: queue.closed)
        await queue.wait_closed()
        rec = await queue.status(task_id)
        assert not rec.status.terminal  # interrupted, back in the queue for another worker
        await until(pilot, lambda: any(n.startswith("drained") for n in notices(app)))
