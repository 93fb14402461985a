"""The incident-console behaviour: every task reachable (pages, sort, go to id), help, truthful
words, empty views, dead workers, no crash without a live worker."""

from __future__ import annotations

from typing import Any

import demo_tasks
from gdw_core import ManualClock, MemoryStorage, TaskQueue, TaskStatus, WorkerInfo
from gdw_core.display import clean, duration, markup
from gdw_core.record import TaskRecord
from gdw_tui.actions import cancel_words
from gdw_tui.app import GdwApp
from gdw_tui.formatting import progress_bar
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.help import HelpScreen
from gdw_tui.screens.submit import SubmitScreen
from gdw_tui.widgets.tables import TasksTable, WorkersTable

from .conftest import SIZE, shown, until
from .test_live import dashboard


def idle_app(page_size: int = 100, registered: bool = True, **kwargs: Any) -> tuple[GdwApp, TaskQueue]:
    """No workers at all (nothing runs); ``registered=False``: no task names known either."""
    clock = ManualClock(1_800_000_000.0)
    tasks = [demo_tasks] if registered else []
    queue = TaskQueue(worker_count=0, queue_size=None, storage=MemoryStorage(clock), clock=clock, tasks=tasks)
    app = GdwApp(queue, clock=clock.now, follow_events=False, refresh_interval=3600.0, page_size=page_size, **kwargs)
    return app, queue


# -- the shared display table and sanitiser ------------------------------------------------------
def test_durations_below_a_second_read_in_ms() -> None:
    assert [duration(0.0021), duration(0.75), duration(0), duration(12.3), duration(3725)] == [
        "2ms",
        "750ms",
        "0ms",
        "00:13",
        "1:02:05",
    ]


def test_sanitiser_drops_escapes_and_escapes_markup() -> None:
    assert clean("\x1b[2Jok\x07\u202e") == "ok "
    assert markup("[bold red]boom[/]") == "\\[bold red]boom\\[/]"


def test_cancel_words_say_what_happened() -> None:
    assert "the running task will stop" in cancel_words("t1", TaskStatus.RUNNING).message
    assert "before it starts" in cancel_words("t1", TaskStatus.CLAIMED).message
    assert "cancelled" in cancel_words("t1", TaskStatus.CANCELLED).message
    done = cancel_words("t1", TaskStatus.COMPLETED)
    assert done.severity == "warning" and "already completed" in done.message


def test_progress_is_a_bar_with_an_eta() -> None:
    rec = TaskRecord(id="p", name="m:f", status=TaskStatus.RUNNING, started_at=100.0, progress={"done": 3, "of": 10})
    bar = progress_bar(rec, now=103.0, width=10)
    assert bar is not None
    assert bar.plain == "███░░░░░░░ 3/10 30% ETA 00:07"
    rec.progress = {"weird": True}
    assert progress_bar(rec, now=103.0) is None


# -- keys ----------------------------------------------------------------------------------------
async def test_submit_without_a_live_worker_does_not_crash() -> None:
    app, queue = idle_app(registered=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        await pilot.press(*"demo_tasks:fast")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, SubmitScreen))
    counts = await queue.inspect.counts()
    assert counts[TaskStatus.PENDING] == 1
    assert app.return_code in (None, 0)


async def test_help_lists_every_key_by_area() -> None:
    app, _ = idle_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = shown(app.screen.query_one("#help Static"))
        wanted = (
            "Dashboard",
            "Task details",
            "Submit form",
            "Go to task id",
            "3 claimed",
            "9 throttled",
            "0 recurring",
            "ctrl+p",
        )
        for words in wanted:
            assert words in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_every_task_is_reachable_by_pages_sort_and_id() -> None:
    app, queue = idle_app(page_size=10)
    ids = [await queue.options(task_id=f"t-{i:03d}").submit("demo_tasks:fast", i) for i in range(25)]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        screen = dashboard(app)
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: ids[0] in tasks.rows)
        assert tasks.row_count == 10
        assert "1-10 of 25" in str(screen.query_one("#lists").border_title)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: ids[10] in tasks.rows)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: ids[24] in tasks.rows and tasks.row_count == 5)
        assert "page 3: 5 of 25" in str(screen.query_one("#lists").border_title)
        await pilot.press("right_square_bracket")  # no page after the last: stays
        await pilot.pause(0.2)
        assert ids[24] in tasks.rows
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: ids[10] in tasks.rows)
        await pilot.press("o", "o", "o")  # age -> age reversed -> name -> attempts
        assert screen.pager.sort == "attempts"
        await pilot.press("g")
        await pilot.press(*ids[3], "enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        assert app.screen.task_id == ids[3]
        await pilot.press("escape")
        await pilot.press("g")
        await pilot.press(*"no-such-task", "enter")
        await until(pilot, lambda: any("no task no-such-task" in str(n.message) for n in app._notifications))


async def test_empty_views_say_so() -> None:
    app, _ = idle_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None and screen.shown == "failed")
        await until(pilot, lambda: "no failed tasks" in shown(screen.query_one("#empty")))


async def test_a_dead_worker_is_shown_dead_with_what_it_held() -> None:
    app, queue = idle_app()
    storage = queue.storage
    dead = WorkerInfo(id="gone-1", host="h", pid=1, queues=["default"], concurrency=2, held=["task-held-1"])
    await storage.heartbeat(dead, {}, 30.0)
    assert isinstance(queue.clock, ManualClock)
    queue.clock.advance(120)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        workers = screen.query_one("#workers", WorkersTable)
        await until(pilot, lambda: "gone-1" in workers.rows)
        row = [c.plain if hasattr(c, "plain") else str(c) for c in workers.get_row("gone-1")]
        assert "dead" in row
        assert any("task-held-1" in c for c in row)
        assert any(c.endswith("ago") and c.startswith("02:0") for c in row)


async def test_an_event_after_the_app_closed_is_dropped_not_raised() -> None:
    # the event follower can hear of a storage error after the queue was shut on unmount
    app, _ = idle_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
    assert not app.screen_stack
    app.announce()  # the follower's call on a closed app: nothing to tell, nothing raised
