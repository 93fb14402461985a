"""Key names. Every key of a queue starts with ``<namespace>:{<queue>}:`` (one hash tag per queue,
so each script touches one Cluster slot); keys that span queues (workers, commands, the queue
list, paused queues, control events) start with ``<namespace>:{<namespace>}:g:``."""

from __future__ import annotations

from gdw_core.lifecycle import INDEX as LIFECYCLE_INDEX
from gdw_core.limits import check_queue_name

#: what the per-queue scripts index under their prefix, by status (the one table in lifecycle)
INDEX = {status.value: suffix for status, suffix in LIFECYCLE_INDEX.items()}


class Keys:
    def __init__(self, namespace: str) -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace must be non-empty and without braces, got {namespace!r}")
        self.namespace = namespace
        self.g = f"{namespace}:{{{namespace}}}:g:"
        self.queues = self.g + "queues"
        self.paused = self.g + "paused"
        self.workers = self.g + "workers"
        self.commands = self.g + "cmd"
        self.events = self.g + "ev"
        self._prefix: dict[str, str] = {}

    def prefix(self, queue: str) -> str:
        p = self._prefix.get(queue)
        if p is None:
            check_queue_name(queue)  # InvalidTask saying why
            p = self._prefix[queue] = f"{self.namespace}:{{{queue}}}:"
        return p

    def task(self, queue: str, task_id: str) -> str:
        return f"{self.prefix(queue)}t:{task_id}"

    def index(self, queue: str, status: str) -> str:
        return self.prefix(queue) + INDEX[status]

    def worker(self, worker_id: str) -> str:
        return f"{self.g}w:{worker_id}"

    def cursor(self, worker_id: str) -> str:
        return f"{self.g}cur:{worker_id}"
