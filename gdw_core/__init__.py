"""gdw_core — the engine of gdw ("go do work"): an asyncio task queue with memory or Redis storage.

from gdw_core import TaskQueue
async with TaskQueue(worker_count=5) as queue:
    task_id = await queue.submit(fetch_page, "https://example.org")
"""

from gdw_core.clock import Clock, ManualClock, SystemClock
from gdw_core.context import TaskContext
from gdw_core.control import Controller
from gdw_core.errors import (
    DuplicateTask,
    GdwError,
    InvalidPayload,
    InvalidSchedule,
    InvalidTask,
    InvalidTransition,
    QueueClosed,
    QueueFull,
    QueueNotFound,
    Retry,
    SkipRetry,
    StorageUnavailable,
    TaskFailed,
    TaskNotFound,
    UnknownTask,
)
from gdw_core.events import Event
from gdw_core.inspect import Inspector
from gdw_core.queue import TaskQueue
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.registry import TaskRegistry, task
from gdw_core.retry import RetryPolicy, RetryStrategy
from gdw_core.status import TaskStatus
from gdw_core.storage import MemoryStorage, Retention, Storage
from gdw_core.workerinfo import WorkerInfo
from gdw_core.workflow import Signature, WorkflowError, WorkflowHandle, chain, chord, group, sig

__version__ = "0.1.0"

__all__ = [
    "AttemptError",
    "Clock",
    "Controller",
    "DuplicateTask",
    "Event",
    "GdwError",
    "Inspector",
    "InvalidPayload",
    "InvalidSchedule",
    "InvalidTask",
    "InvalidTransition",
    "ManualClock",
    "MemoryStorage",
    "QueueClosed",
    "QueueFull",
    "QueueNotFound",
    "RecurringEntry",
    "Retention",
    "Retry",
    "RetryPolicy",
    "RetryStrategy",
    "Signature",
    "SkipRetry",
    "Storage",
    "StorageUnavailable",
    "SystemClock",
    "TaskContext",
    "TaskFailed",
    "TaskNotFound",
    "TaskQueue",
    "TaskRecord",
    "TaskRegistry",
    "TaskStatus",
    "UnknownTask",
    "WorkerInfo",
    "WorkflowError",
    "WorkflowHandle",
    "chain",
    "chord",
    "group",
    "sig",
    "task",
]
