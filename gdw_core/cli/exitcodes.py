"""Exit codes of ``gdw`` and the error that carries one to the top of a command."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    TASK_FAILED = 1  # the task ended failed or cancelled, or the action did not apply to it
    USAGE = 2  # bad input: malformed name, bad JSON, bad duration/time/cron, conflicting flags
    UNREACHABLE = 3  # cannot reach Redis (down, wrong address, TLS, wrong password, ACL denial)
    NOT_FOUND = 4  # no such task / worker / recurring entry; or (--strict) no worker has the name
    TIMEOUT = 5  # --wait-timeout passed before the task ended
    DUPLICATE = 6  # submit --id: a task with that id already exists (nothing enqueued)
    INTERNAL = 70  # a bug in gdw (EX_SOFTWARE); GDW_DEBUG=1 shows the traceback


EPILOG = """\b
Exit codes:
  0  ok (submit --wait: the task completed)
  1  the task failed or was cancelled, or the action did not apply
  2  usage error (bad name, JSON, duration, time, cron, flags): nothing done
  3  cannot reach Redis (down, not Redis, wrong address, TLS, password, ACL)
  4  not found: task, worker, queue, recurring entry (--strict: task name)
  5  --wait-timeout passed before the task ended
  6  submit --id: a task with that id exists (--if-exists skip accepts it)
  70 internal error (a bug; GDW_DEBUG=1 shows the traceback)
\b
Redis: --redis or GDW_REDIS_URL (default localhost:6379);
host:port, redis://, rediss:// and unix:// URLs.
"""


class CliError(Exception):
    """A failure to report as one line on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage(message: str) -> CliError:
    return CliError(message, ExitCode.USAGE)
