"""The ``gdw`` command: wiring of the command modules, one-line usage errors, exit codes."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
from typer._click.exceptions import ClickException, UsageError  # typer vendors click (no public alias)
from typer.core import TyperGroup

from gdw_core.cli import bulk, limits, metrics, operate, options, overview, recurring, repair, submit, tasks, worker
from gdw_core.cli.exitcodes import EPILOG, CliError, ExitCode
from gdw_core.cli.output import clean


class GdwGroup(TyperGroup):
    """Every failure the user can fix is one line on stderr and an exit code, never a traceback."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `gdw` / `gdw recurring`: the help
                exc.show()
                code = int(ExitCode.USAGE)
            else:
                where = exc.ctx.command_path if exc.ctx is not None else "gdw"
                code = _report(f"{exc.format_message()} (see '{where} --help')", ExitCode.USAGE)
        except ClickException as exc:
            code = _report(exc.format_message(), ExitCode.USAGE)
        except CliError as exc:
            code = _report(exc.message, exc.code)
        except typer.Abort:
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _report(message: str, code: ExitCode) -> int:
    sys.stderr.write(f"gdw: error: {clean(' '.join(message.split()))}\n")
    sys.stderr.flush()
    return int(code)


app = typer.Typer(
    name="gdw",
    cls=GdwGroup,
    help="gdw (go do work): submit, schedule, inspect and control tasks; run workers.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def short(text: str | None) -> str:
    """A command's line in ``gdw --help``: the first paragraph of its help as one line (the list
    keeps the source's line breaks, which cut a long first paragraph into a ragged column)."""
    return " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())


def add(fn: Callable[..., Any], help: str | None = None, line: str | None = None) -> None:
    """Register a command; ``line`` its line in the list when its first paragraph is long."""
    app.command(help=help, short_help=line or short(help or fn.__doc__), epilog=EPILOG)(fn)


app.callback()(options.choose)  # gdw [--redis-file PATH] [--namespace NS] COMMAND
add(worker.worker)
add(submit.submit, help=submit.HELP)
COMMANDS: list[Callable[..., Any]] = [tasks.status, tasks.ls, bulk.cancel, bulk.retry, bulk.purge, operate.pause,
                                      operate.resume]  # fmt: skip
for fn in COMMANDS:
    add(fn)
add(operate.shutdown, line="Ask workers (all, or one) to shut down gracefully.")
add(repair.repair, line="Repair queues whose status index was overwritten with a key of another type.")
for fn in (overview.workers, overview.stats, metrics.metrics):
    add(fn)
app.add_typer(recurring.app, name="recurring")
app.add_typer(limits.app, name="limit")

#: the click command behind ``app`` (what CliRunner tests invoke)
command = typer.main.get_command(app)


def main(argv: Sequence[str] | None = None) -> None:
    command.main(args=list(argv) if argv is not None else None, prog_name="gdw")


if __name__ == "__main__":
    main()
