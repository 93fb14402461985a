"""Bad input answers with one line on stderr and a non-zero exit, before anything is sent."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gdw_core.cli.app import app

# an address nothing listens on: a command that got as far as connecting would fail with exit 3
NOWHERE = "redis://:hunter2@127.0.0.1:1/0"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["submit", "resize"], "module:function"),
        (["submit", "demo_tasks:resize", "--kw", "width:=[1,"], "bad JSON in --kw width:="),
        (["submit", "demo_tasks:resize", "--args", "[1, 2 3]"], "column 7"),
        (["submit", "demo_tasks:resize", "--kwargs", "[]"], "JSON object"),
        (["submit", "demo_tasks:resize", "a", "--args", "[]"], "not both"),
        (["submit", "demo_tasks:resize", "--in", "5 minutes"], "bad duration"),
        (["submit", "demo_tasks:resize", "--at", "2001-01-01T00:00:00Z"], "in the past"),
        (["submit", "demo_tasks:resize", "--at", "2999-01-01T00:00:00"], "no zone"),
        (["submit", "demo_tasks:resize", "--cron", "61 * * * *"], "invalid cron"),
        (["submit", "demo_tasks:resize", "--every", "0s"], "more than zero"),
        (["submit", "demo_tasks:resize", "--in", "1s", "--at", "2999-01-01T00:00:00Z"], "conflict"),
        (["submit", "demo_tasks:resize", "--every", "5m", "--wait"], "--wait cannot"),
        (["submit", "demo_tasks:resize", "--wait-timeout", "5s"], "needs --wait"),
        (["submit", "demo_tasks:resize", "--backoff", "sometimes"], "--backoff"),
        (["submit", "demo_tasks:resize", "--timeout", "0"], "more than zero"),
        (["submit", "demo_tasks:resize", "--retries", "many"], "--retries"),
        (["submit", "demo_tasks:resize", "--bogus"], "No such option"),
        (["submit"], "Missing argument"),
        (["ls", "--state", "sleeping"], "--state"),
        (["ls", "--limit", "0"], "--limit"),
        (["status", "x", "--watch", "--json"], "conflict"),
        (["shutdown", "--now", "--timeout", "5s"], "conflict"),
        (["shutdown", "--timeout", "soon"], "bad duration"),
        (["worker", "not a module"], "bad module name"),
        (["worker", "demo_tasks", "--lease", "0s"], "more than zero"),
        (["worker", "demo_tasks", "--queues", ","], "--queues"),
        (["worker", "demo_tasks", "--log-level", "loud"], "--log-level"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, argv: list[str], needle: str) -> None:
    result = runner.invoke(app, [*argv, "--redis", NOWHERE] if argv[0] != "nosuchcommand" else argv)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gdw: error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_bad_redis_url_is_a_usage_error_without_the_password(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", "--redis", "http://u:hunter2@host"])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "scheme" in result.stderr


def test_help_documents_exit_codes(runner: CliRunner) -> None:
    for argv in ([], ["submit"], ["worker"]):
        result = runner.invoke(app, [*argv, "--help"])
        assert result.exit_code == 0
        assert "Exit codes" in result.stdout
        assert "cannot reach Redis" in result.stdout


def test_submit_help_shows_argument_forms(runner: CliRunner) -> None:
    text = runner.invoke(app, ["submit", "--help"]).stdout
    for form in ("--kw k:=JSON", "--args JSON", "demo_tasks:resize photo.jpg 800", "--cron"):
        assert form in text
