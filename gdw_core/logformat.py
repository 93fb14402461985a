"""Log lines for machines: ``--log-format json`` writes one JSON object per line with the time,
level, logger and message, and — for lines logged while a task runs — its task id, name, queue and
attempt, plus the worker id on every line. Passwords in Redis URLs are redacted from every line,
whatever the format.

The task fields come from a context variable the :class:`TaskLogContext` hook sets before each
task (asyncio copies it into whatever the task spawns); a log call may also pass them explicitly
with ``extra={"task_id": ...}``."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from gdw_core.hooks import Hooks, Outcome
from gdw_core.record import TaskRecord

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FIELDS = ("task_id", "task", "queue", "attempt", "outcome", "duration")
#: userinfo passwords and password= parameters in any URL-looking text
_URL_SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]*):([^@\s/]*)@", re.IGNORECASE)
_URL_SOLE = re.compile(r"(\bredis[a-z+]*://)([^/@\s:]+)@", re.IGNORECASE)
_QUERY_SECRET = re.compile(r"((?:sentinel_)?password=)[^&\s'\"]*", re.IGNORECASE)

task_log = logging.getLogger("gdw.task")
current_task: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("gdw_task", default=None)


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without URL passwords and without any of ``secrets``."""
    text = _URL_SECRET.sub(r"\1\2:***@", text)
    text = _URL_SOLE.sub(r"\1***@", text)
    text = _QUERY_SECRET.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class Redacting(logging.Filter):
    """Scrubs passwords from the rendered message (args included) of every record."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, worker: str | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        task = current_task.get() or {}
        for key in _FIELDS:
            value = getattr(record, key, None)
            if value is None:
                value = task.get(key)
            if value is not None:
                out[key] = value
        worker = getattr(record, "worker", None) or self.worker
        if worker:
            out["worker"] = worker
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def task_fields(task: TaskRecord) -> dict[str, Any]:
    return {"task_id": task.id, "task": task.name, "queue": str(task.queue), "attempt": task.attempts}


class TaskLogContext(Hooks):
    """Puts the running task's id, name, queue and attempt where the JSON formatter finds them,
    and logs one line per attempt as it ends (``gdw.task``: completed / retrying / failed / ...)."""

    def before_task(self, task: TaskRecord) -> None:
        current_task.set(task_fields(task))

    def after_task(self, task: TaskRecord, outcome: Outcome) -> None:
        # completed at DEBUG: a line per task would cost more than the task's own overhead at INFO
        level = logging.DEBUG if outcome.status == "completed" else logging.WARNING
        if not task_log.isEnabledFor(level):
            current_task.set(None)
            return
        error = f": {outcome.error.type}: {outcome.error.message}" if outcome.error is not None else ""
        # "after": how long the attempt ran ("retrying in 0.05s" read as the wait before the next)
        task_log.log(
            level,
            "task %s %s attempt %d %s after %.3fs%s",
            task.id,
            task.name,
            task.attempts,
            outcome.status,
            outcome.duration,
            error,
            extra={**task_fields(task), "outcome": outcome.status, "duration": round(outcome.duration, 6)},
        )
        current_task.set(None)


def configure(level: str, fmt: str = "text", secrets: Sequence[str] = ()) -> logging.Handler:
    """Root logging on stderr in ``fmt`` with passwords redacted; returns the handler (the worker
    sets ``handler.formatter.worker`` once it knows its id)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redacting(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    return handler
