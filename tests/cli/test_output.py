"""What reaches a terminal: escaped control codes and markup, redacted passwords."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from gdw_core import AttemptError, TaskRecord, TaskStatus, display
from gdw_core.cli import output
from gdw_core.cli.connection import redact, resolve_url
from gdw_core.cli.exitcodes import CliError


def test_clean_escapes_control_characters() -> None:
    assert output.clean("plain text") == "plain text"
    assert output.clean("red\x1b[31m\x07\nline") == "red\\x1b[31m\\x07\\nline"


def _render(renderable: object) -> str:
    buf = StringIO()
    Console(file=buf, width=200, no_color=True).print(renderable)
    return buf.getvalue()


def test_tables_do_not_interpret_markup_or_escapes() -> None:
    rec = TaskRecord(
        id="[bold]x[/bold]",
        name="m:f",
        args=["\x1b[2J"],
        status=TaskStatus.FAILED,
        errors=[AttemptError(1, "Boom", "[red]msg\x1b]0;title\x07", "", 0.0, "w1")],
    )
    text = _render(output.record_table(rec, 0.0)) + _render(output.tasks_table([rec], 0.0))
    assert "[bold]x[/bold]" in text
    assert "\x1b" not in text and "\x07" not in text
    assert "[red]msg" in text


def test_secret_arguments_are_redacted() -> None:
    rec = TaskRecord(id="t1", name="m:f", args=["hunter2"], kwargs={"pw": "hunter2"}, secret=True)
    assert "hunter2" not in _render(output.record_table(rec, 0.0))
    assert "hunter2" not in str(output.record_doc(rec))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://alice:hunter2@host:6379", "redis://alice:***@host:6379"),
        ("rediss://alice:hunter2@host", "rediss://alice:***@host"),
        ("redis://host:6379", "redis://host:6379"),
        ("localhost:6379", "localhost:6379"),
        ("unix:///tmp/r.sock?password=hunter2", "unix:///tmp/r.sock?password=***"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_resolve_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_url(None) == "localhost:6379"
    monkeypatch.setenv("GDW_REDIS_URL", "redis://elsewhere:1")
    assert resolve_url(None) == "redis://elsewhere:1"
    assert resolve_url("otherhost:7000") == "otherhost:7000"
    for bad in ("http://x", "not a host", "host:port"):
        with pytest.raises(CliError):
            resolve_url(bad)


# -- issue 10 items 8 and 9: claimed is not running; elapsed from the start; the record's total ----
def test_issue10_item8_claimed_is_shown_apart_and_elapsed_counts_from_the_start() -> None:
    claimed = TaskRecord(id="t-claimed", name="m:f", status=TaskStatus.CLAIMED, attempts=1, worker="w1", run_at=90.0)
    running = TaskRecord(
        id="t-running", name="m:f", status=TaskStatus.RUNNING, attempts=1, run_at=10.0, started_at=96.0, timeout=60
    )
    table = _render(output.tasks_table([claimed, running], 100.0))
    claimed_line = next(line for line in table.splitlines() if "t-claimed" in line)
    running_line = next(line for line in table.splitlines() if "t-running" in line)
    assert "claimed" in claimed_line and "not started" in claimed_line and "running" not in claimed_line
    assert "for 00:04" in running_line  # from started_at (96), not from the claim or run_at (10)
    detail = _render(output.record_table(claimed, 100.0))
    assert "not started" in detail and "started " not in detail.replace("not started", "")
    assert "running for 00:04" in _render(output.record_table(running, 100.0))


def test_over_its_timeout_counts_from_the_start_too() -> None:
    rec = TaskRecord(id="t", name="m:f", status=TaskStatus.RUNNING, started_at=100.0, run_at=0.0, timeout=5)
    assert not output._over_time(rec, 104.0)  # claimed long ago (run_at 0) but started 4 s ago
    assert output._over_time(rec, 106.0)


def test_issue10_item9_attempts_total_comes_from_the_record() -> None:
    rec = TaskRecord(id="t", name="m:f", status=TaskStatus.RETRYING, attempts=3, max_retries=4)
    assert output.attempts_text(rec) == "attempt 3 of 5"
    assert "attempt 3 of 5" in _render(output.record_table(rec, 0.0))
    assert "3/5" in _render(output.tasks_table([rec], 0.0))
    assert output.attempts_text(TaskRecord(id="n", name="m:f", max_retries=2)) == "none yet (up to 3)"
    drained = TaskRecord(
        id="d", name="m:f", status=TaskStatus.RETRYING, attempts=1, max_retries=3,
        errors=[AttemptError(1, "Interrupted", "worker shut down", "", 1.0, "w", counted=False)],
    )  # fmt: skip
    assert output.attempts_text(drained) == "attempt 1 of 4 (+1 interruption that did not count)"
    assert "(not counted)" in _render(output.record_table(drained, 0.0))


def test_counts_have_a_claimed_column() -> None:
    counts = {str(s): 0 for s in TaskStatus} | {"claimed": 7, "running": 2}
    text = _render(output.counts_table({"default": counts}, {}))
    header, row = text.splitlines()[:2]
    assert header.split().index("claimed") == row.split().index("7")
    assert header.split().index("running") == row.split().index("2")


def test_counts_fit_every_state_in_80_columns() -> None:
    counts = {str(s): i for i, s in enumerate(TaskStatus)}
    buf = StringIO()
    Console(file=buf, width=80, no_color=True).print(
        output.counts_table({"default": counts, "all queues": counts}, {}, width=80)
    )
    header, row, total = buf.getvalue().splitlines()[:3]
    assert "…" not in buf.getvalue() and len(header) <= 80
    assert row.split()[0] == "default" and total.startswith("all queues")
    assert len(header.split()) == 1 + len(TaskStatus)  # a column for every state
    for look in display.STATES:  # each count under its own state's label
        assert row.split()[header.split().index(look.tiny)] == str(counts[str(look.status)])


# -- bad records never crash the views ----------------------------------------------------------------
def _deep(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_unreadable_and_odd_records_render() -> None:
    stand_in = TaskRecord(
        id="bad\x1b[2J", name="?", status=TaskStatus.PENDING,
        errors=[AttemptError(0, "InvalidPayload", "stored payload is not valid JSON\x07", "", 0.0)],
    )  # fmt: skip
    deep = TaskRecord(id="deep", name="m:f", status=TaskStatus.COMPLETED, result=_deep(5000), args=[_deep(5000)])
    odd = TaskRecord(id="odd", name="m:f", args="not a list", kwargs=["nor", "a dict"])  # type: ignore[arg-type]
    text = _render(output.tasks_table([stand_in, deep, odd], 0.0))
    assert "unreadable record: stored payload is not valid JSON\\x07" in text
    assert "deep" in text and "odd" in text and "\x1b" not in text and "\x07" not in text
    detail = _render(output.record_table(stand_in, 0.0)) + _render(output.record_table(deep, 0.0))
    assert "unreadable" in detail and "\x1b" not in detail
    doc = output.record_doc(deep)
    assert doc["result"] == "<unreadable result: RecursionError>"
    assert output.record_doc(stand_in)["unreadable"].startswith("stored payload")


def test_dead_workers_are_listed_with_what_they_held() -> None:
    from gdw_core import WorkerInfo

    dead = WorkerInfo("w-dead", "h", 1, ["default"], 4, state="dead", last_seen=40.0, held=[f"t{i}" for i in range(12)])
    live = WorkerInfo("w-live", "h", 2, ["default"], 4, last_seen=99.5)
    text = _render(output.workers_table([dead, live], 100.0))
    assert "dead" in text and "01:00 ago" in text
    lines = output.dead_worker_lines([dead, live], 100.0)
    assert lines == ["worker w-dead is dead (last seen 01:00 ago); it held 12 task(s): "
                     + ", ".join(f"t{i}" for i in range(10)) + " and 2 more"]  # fmt: skip


def test_following_a_task_says_claimed_or_running_for_how_long() -> None:
    from gdw_core.cli.watching import describe

    claimed = TaskRecord(id="c", name="m:f", status=TaskStatus.CLAIMED, attempts=1, worker="w1")
    running = TaskRecord(id="r", name="m:f", status=TaskStatus.RUNNING, attempts=2, max_retries=4, started_at=95.0)
    assert describe(claimed, 100.0) == "task c claimed (by w1, waiting for a free slot: not started)"
    assert describe(running, 100.0) == "task r running for 00:05 (attempt 2 of 5, on ?)"


def test_times_no_calendar_holds_do_not_crash_a_view() -> None:
    from gdw_core import RecurringEntry

    rec = TaskRecord(id="t", name="m:f", created_at=1e300, run_at=float("inf"), started_at=-1e20)
    text = _render(output.record_table(rec, 100.0)) + _render(output.tasks_table([rec], 100.0))
    assert "not a time" in text
    entry = RecurringEntry(id="e", name="m:f", interval=60, next_run=1e300)
    assert "not a time" in _render(output.recurring_table([entry], 100.0))


def test_workers_say_which_queue_they_cannot_claim_from() -> None:
    from gdw_core import WorkerInfo

    why = "WRONGTYPE Operation against a key holding the wrong kind of value\x1b[31m"
    live = WorkerInfo("w-1", "h", 1, ["broken", "default"], 4, failing={"broken": why})
    gone = WorkerInfo("w-2", "h", 2, ["broken"], 4, state="dead", failing={"broken": why})
    lines = output.failing_queue_lines([live, gone])
    assert len(lines) == 1 and lines[0].startswith("worker w-1: queue 'broken': WRONGTYPE")
    assert "\x1b" not in lines[0]
    # the heartbeat's JSON round trip keeps it; a hand-written record with garbage there reads as none
    assert WorkerInfo.from_dict(live.to_dict()).failing == {"broken": why}
    assert WorkerInfo.from_dict({**live.to_dict(), "failing": [1, 2]}).failing == {}
    assert WorkerInfo.from_dict({k: v for k, v in live.to_dict().items() if k != "failing"}).failing == {}
