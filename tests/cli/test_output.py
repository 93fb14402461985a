"""What reaches a terminal: escaped control codes and markup, redacted passwords."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from gdw_core import AttemptError, TaskRecord, TaskStatus
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
