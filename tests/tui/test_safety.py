"""Nothing read from storage reaches the terminal as markup or control sequences; gdw_core never
imports the dashboard's libraries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from rich.text import Text

from gdw_core import AttemptError, TaskQueue, TaskRecord, TaskStatus, WorkerInfo
from gdw_tui import safe
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.widgets.tables import TasksTable, WorkersTable

from .conftest import SIZE, shown, until
from .test_actions import select_task

EVIL = "[bold red]x[/]\x1b[2J\x07\x9b"
ROOT = Path(__file__).resolve().parents[2]


def test_clean_strips_control_sequences_and_markup_escapes() -> None:
    assert safe.clean("a\x1b[2Jb\x1b]0;title\x07c\x00d") == "abc d"
    assert "\x1b" not in safe.clean(EVIL) and "\x07" not in safe.clean(EVIL)
    assert safe.markup("[bold red]x[/]") == "\\[bold red]x\\[/]"
    assert Text.from_markup(safe.markup(EVIL)).plain == "[bold red]x[/]  "
    assert safe.text(EVIL).spans == []
    assert safe.clean("line1\nline2\r\n\tx", multiline=True) == "line1\nline2\n\tx"


async def test_hostile_task_record_is_shown_literally(queue: TaskQueue, make_app: Any) -> None:
    now = await queue.storage.now()
    evil = TaskRecord(
        id="evil-1",
        name="demo_tasks:fast",
        args=[EVIL],
        kwargs={EVIL: EVIL},
        status=TaskStatus.SCHEDULED,
        run_at=now + 3600,
        created_at=now,
        errors=[AttemptError(1, EVIL, EVIL, f"Traceback:\n  {EVIL}\n", now, worker=EVIL)],
    )
    await queue.storage.enqueue([evil])
    bad_worker = WorkerInfo(id="w-evil", host=EVIL, pid=1, queues=[EVIL], concurrency=1, last_seen=now)
    await queue.storage.heartbeat(bad_worker, {}, 30.0)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tasks = await select_task(pilot, app, "2", "evil-1")
        cells = [c.plain if isinstance(c, Text) else c for c in tasks.get_row("evil-1")]
        joined = " ".join(cells)
        assert "[bold red]x[/]" in joined
        assert not any(ch in joined for ch in "\x1b\x07\x9b")
        workers = app.screen.query_one("#workers", WorkersTable)
        await until(pilot, lambda: "w-evil" in workers.rows)
        host = workers.get_row("w-evil")[1]
        assert "\x1b" not in host.plain and host.plain.startswith("[bold red]")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen) and app.screen.record is not None)
        text = shown(app.screen.query_one("#errors")) + shown(app.screen.query_one("#fields"))
        assert "[bold red]x[/]" in text and "\x1b" not in text
        assert "\x1b[2J" not in app.export_screenshot()
        assert isinstance(tasks, TasksTable)


async def test_secret_args_are_redacted(queue: TaskQueue, make_app: Any) -> None:
    task_id = await queue.options(secret=True).schedule("demo_tasks:fast", 3600, "hunter2")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tasks = await select_task(pilot, app, "2", task_id)
        assert "hunter2" not in tasks.get_row(task_id)[2].plain
        assert "redacted" in tasks.get_row(task_id)[2].plain
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen) and app.screen.record is not None)
        assert "hunter2" not in shown(app.screen.query_one("#fields"))


def test_gdw_core_never_imports_textual_or_gdw_tui() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import gdw_core
        for m in pkgutil.walk_packages(gdw_core.__path__, "gdw_core."):
            if m.name.endswith(".__main__"):
                continue  # running it would start a program; the grep below still reads it
            try:
                importlib.import_module(m.name)
            except ImportError as exc:
                if "textual" in str(exc) or "gdw_tui" in str(exc):
                    raise
        bad = sorted(k for k in sys.modules if k.split(".")[0] in ("textual", "gdw_tui"))
        print(",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
    for path in (ROOT / "gdw_core").rglob("*.py"):
        source = path.read_text()
        assert "import textual" not in source and "from textual" not in source, path
        assert "gdw_tui" not in source, path
