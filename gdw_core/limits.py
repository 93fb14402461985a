"""The validation boundary: what a task may look like, checked when it is submitted (refused with
a clear error, nothing enqueued) and again wherever stored data is read (a record that fails the
check fails alone, with its reason).

One set of rules for both backends and every entry point (library, CLI, dashboard):

* queue names and task ids follow a grammar (no braces, spaces, control characters or newlines,
  bounded length), so a name can never break a Redis key, a hash tag, a log line or a terminal;
* a payload (the JSON of a task's arguments, a result, progress) has a size and a nesting depth
  limit, so one huge or deep value cannot exhaust a worker's stack, Redis memory or the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gdw_core.errors import InvalidPayload, InvalidTask

#: a queue name: letters, digits and ``_ . : -``, starting with a letter or digit, at most 100 chars
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
#: a task id: letters, digits and ``_ . : @ + = -``, at most 200 chars (recurring ticks are ``entry@ms``)
TASK_ID_RE = re.compile(r"^[A-Za-z0-9_.:@+=\-]{1,200}$")


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """How big and how deep one stored JSON value may be."""

    #: the encoded JSON of a task's arguments (and of a result), in bytes
    max_bytes: int = 512 * 1024
    #: nesting of arrays and objects (``[[[1]]]`` is 3)
    max_depth: int = 64

    def __post_init__(self) -> None:
        if self.max_bytes < 1024:
            raise ValueError(f"max_bytes must be >= 1024, got {self.max_bytes}")
        if not 1 <= self.max_depth <= 500:
            raise ValueError(f"max_depth must be between 1 and 500, got {self.max_depth}")


DEFAULT_LIMITS = PayloadLimits()


def _show(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return repr(shown)


def _grammar(value: Any, pattern: re.Pattern[str], what: str, rule: str) -> str:
    """``value`` if it is a string matching ``pattern``; otherwise :class:`InvalidTask` saying why."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = _show(value) if isinstance(value, str) else type(value).__name__
        raise InvalidTask(f"{what} {shown} is not valid: use {rule}")
    return value


def check_queue_name(name: Any) -> str:
    """The name if it follows the grammar; otherwise :class:`InvalidTask` saying why."""
    rule = "1-100 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
    return _grammar(name, QUEUE_NAME_RE, "queue name", rule)


def valid_queue_name(name: Any) -> bool:
    return isinstance(name, str) and QUEUE_NAME_RE.fullmatch(name) is not None


def check_task_id(task_id: Any) -> str:
    """The id if it follows the grammar; otherwise :class:`InvalidTask` saying why."""
    return _grammar(task_id, TASK_ID_RE, "task id", "1-200 letters, digits, '_', '.', ':', '@', '+', '=' or '-'")


def valid_task_id(task_id: Any) -> bool:
    return isinstance(task_id, str) and TASK_ID_RE.fullmatch(task_id) is not None


#: a recurring entry id: a task id without ``@`` and short enough that its ticks' ids
#: (``entry@<epoch ms>``) are task ids too
ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9_.:+=\-]{1,180}$")


def check_entry_id(entry_id: Any) -> str:
    """The recurring entry id if it follows the grammar; otherwise :class:`InvalidTask` saying why."""
    rule = "1-180 letters, digits, '_', '.', ':', '+', '=' or '-'"
    return _grammar(entry_id, ENTRY_ID_RE, "recurring entry id", rule)


def depth_of(value: Any, stop_at: int) -> int:
    """The nesting depth of a JSON-like value, counting no further than ``stop_at`` + 1 (so a
    hostile value costs at most its size, never a recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > stop_at:
                return deepest
        stack.extend((child, level) for child in children if isinstance(child, (dict, list, tuple)))
    return deepest


def check_depth(value: Any, what: str, limits: PayloadLimits = DEFAULT_LIMITS) -> None:
    if depth_of(value, limits.max_depth) > limits.max_depth:
        raise InvalidPayload(f"{what} is nested more than {limits.max_depth} levels deep")


def check_size(encoded: str | bytes, what: str, limits: PayloadLimits = DEFAULT_LIMITS) -> None:
    if isinstance(encoded, str):
        if len(encoded) * 4 <= limits.max_bytes:  # at most 4 bytes per character: surely within
            return
        size = len(encoded.encode("utf-8", "surrogatepass"))
    else:
        size = len(encoded)
    if size > limits.max_bytes:
        raise InvalidPayload(f"{what} is {size:,} bytes of JSON, over the limit of {limits.max_bytes:,} bytes")


#: what stored data may exceed the submit limits by when it is read back: the stored payload wraps
#: the arguments with the task's name and options (bytes) and one object level (depth)
READ_SLACK_BYTES = 64 * 1024
READ_SLACK_DEPTH = 2


def read_limits(limits: PayloadLimits = DEFAULT_LIMITS) -> PayloadLimits:
    """The limits a reader of stored records applies, for records submitted under ``limits``."""
    return PayloadLimits(limits.max_bytes + READ_SLACK_BYTES, min(500, limits.max_depth + READ_SLACK_DEPTH))


DEFAULT_READ_LIMITS = read_limits()
