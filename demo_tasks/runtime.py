"""How demo tasks that submit more work (``fanout``) find a queue to submit to.

A task runs inside a worker and is handed no queue, so the fan-out task asks this module:

* an embedding program (the dashboard's ``--demo`` mode, a test) calls :func:`bind` with its
  :class:`~gdw_core.TaskQueue`, and subtasks go there;
* otherwise a producer-only queue is opened on ``GDW_REDIS_URL`` (``gdw worker`` sets that variable
  to the Redis it was started with), once per process and event loop.
"""

from __future__ import annotations

import asyncio

from gdw_core import TaskQueue

_bound: TaskQueue | None = None
_own: dict[int, TaskQueue] = {}


def bind(queue: TaskQueue | None) -> None:
    """Make ``queue`` the one demo tasks submit subtasks to (None unbinds)."""
    global _bound
    _bound = queue


async def producer() -> TaskQueue:
    """The bound queue, else a producer-only queue on ``GDW_REDIS_URL``."""
    if _bound is not None and not _bound.closed:
        return _bound
    loop_id = id(asyncio.get_running_loop())
    queue = _own.get(loop_id)
    if queue is None or queue.closed:
        from gdw_core.storage.redis.address import url_from_environment  # GDW_REDIS_URL or GDW_REDIS_FILE

        url = url_from_environment()
        if not url:
            raise RuntimeError(
                "demo_tasks.runtime: no queue to submit to: call runtime.bind(queue) or set GDW_REDIS_URL"
            )
        from gdw_core.storage.redis import RedisStorage  # only when there is a Redis to talk to

        queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
        _own[loop_id] = queue
    return queue
