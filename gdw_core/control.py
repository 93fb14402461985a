"""Operator actions: cancel, retry now, pause/resume a queue, shut workers down, stop recurring
entries, repair a queue's indexes. The CLI and the dashboard act only through this."""

from __future__ import annotations

from collections.abc import Sequence

from gdw_core import bulk as B
from gdw_core import repair as R
from gdw_core.errors import QueueNotFound, TaskNotFound
from gdw_core.limits import check_queue_name, valid_queue_name
from gdw_core.record import DEFAULT_QUEUE
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Command, Storage


class Controller:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def cancel(self, task_id: str) -> TaskStatus:
        """Cancel a waiting task at once; ask the worker of a running task to stop it (within a
        second). Returns the status after the call; a finished task is left as it is."""
        return await self.storage.cancel(task_id)

    async def retry_now(self, task_id: str) -> bool:
        """The operator's "retry" key: :meth:`retry` (a failed or cancelled task is re-run, a
        scheduled or retrying one made due now); False, nothing changed, in any other state."""
        return (await self.retry(task_id)).done

    async def retry(self, task_id: str) -> B.Item:
        """An operator's retry: a failed or cancelled task is re-run under the same id (history
        kept, fresh attempt budget); a scheduled or retrying one is due now. ``done`` False, with
        the reason, for a task in any other state; TaskNotFound for an unknown id."""
        return await self.storage.rerun(task_id)

    async def bulk(
        self,
        action: B.Action,
        flt: B.Filter,
        progress: B.Progress | None = None,
        batch: int = B.BATCH,
    ) -> B.Summary:
        """Act on every task the filter matches, in bounded batches (see :mod:`gdw_core.bulk`);
        :class:`~gdw_core.B.BulkError` for a request it cannot run (before anything changed)."""
        return await B.run(self.storage, action, flt, progress, batch)

    async def bulk_ids(
        self, action: B.Action, ids: list[str], progress: B.Progress | None = None, batch: int = B.IDS_AT_ONCE
    ) -> B.Summary:
        """Act on the tasks named by ``ids`` (a dashboard's selection), each re-checked alone
        (see :func:`gdw_core.bulk.run_ids`): one that moved on, vanished or cannot be read is
        skipped with its reason."""
        return await B.run_ids(self.storage, action, ids, progress, batch)

    async def repair(
        self, queues: Sequence[str] | None = None, dry_run: bool = False, fail_unreadable: bool = False
    ) -> R.Report:
        """Put the status indexes of ``queues`` (None: every queue :meth:`known_queues` names)
        right: an index overwritten with a key of another type is moved aside, every task is put
        back in the index of its status (see :mod:`gdw_core.repair`). ``fail_unreadable`` fails
        the records that cannot be read as tasks at all, each saying why, instead of only
        reporting them. ``dry_run`` says what would change and changes nothing; a second repair
        changes nothing. A queue name outside the grammar raises InvalidTask before anything is
        done."""
        if queues:
            for queue in queues:
                check_queue_name(queue)
            names = list(queues)
        else:  # (a name outside the grammar, read from a hand-written record, is skipped)
            names = sorted(q for q in await self.known_queues() if valid_queue_name(q))
        return await R.run(self.storage, names, dry_run, fail_unreadable)

    async def pause(self, queue: str = DEFAULT_QUEUE, create: bool = False) -> None:
        """Workers stop claiming from ``queue`` (running tasks finish); submit still works.
        An unknown queue (no tasks, no worker serving it, never paused) raises
        :class:`QueueNotFound` unless ``create``: a typo must not make a phantom queue."""
        check_queue_name(queue)
        if not create:
            await self._check_known(queue)
        await self.storage.set_paused(queue, True)

    async def resume(self, queue: str = DEFAULT_QUEUE) -> None:
        """Let workers claim from ``queue`` again; :class:`QueueNotFound` for an unknown queue."""
        check_queue_name(queue)
        await self._check_known(queue)
        await self.storage.set_paused(queue, False)

    async def known_queues(self) -> set[str]:
        """Queues that have tasks, were paused, or that a worker (live or in its history) serves."""
        names = {q.name for q in await self.storage.queues()}
        for w in await self.storage.workers():
            names.update(w.queues)
        return names

    async def _check_known(self, queue: str) -> None:
        if queue not in await self.known_queues():
            raise QueueNotFound(queue)

    async def shutdown(self, worker: str | None = None, timeout: float | None = 30.0, immediate: bool = False) -> None:
        """Ask one worker (by id) or all (None) to stop: gracefully within ``timeout``, or now."""
        await self.storage.send_command(Command("shutdown", worker, timeout, immediate))

    async def cancel_recurring(self, entry_id: str) -> None:
        if not await self.storage.remove_recurring(entry_id):
            raise TaskNotFound(entry_id)
