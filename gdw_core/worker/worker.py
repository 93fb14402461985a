"""The worker: claims tasks, runs them in ``concurrency`` slots, records outcomes, keeps its leases
alive and stops gracefully. It composes the parts: :class:`Claimer` (the buffer of ``claimed``
tasks), :class:`Execution` (one attempt), :class:`OutcomeWriter` (marks, acks, failures, releases,
retried until the lease deadline), :class:`Heartbeat` and :class:`Utilization`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from gdw_core import codec
from gdw_core.context import TaskContext
from gdw_core.errors import GdwError, Interrupted, InvalidPayload, UnknownTask
from gdw_core.failure import decide, describe
from gdw_core.flow.weights import check_weights
from gdw_core.hooks import Hooks, HookSet, Outcome
from gdw_core.isolation import ChildTaskError
from gdw_core.limits import DEFAULT_LIMITS, PayloadLimits, check_depth, check_size
from gdw_core.logformat import task_fields
from gdw_core.record import DEFAULT_QUEUE, AttemptError, TaskRecord
from gdw_core.registry import TaskRegistry, TaskSpec
from gdw_core.retry import RetryPolicy
from gdw_core.storage.protocol import Command, HeartbeatReply, Lease, Storage
from gdw_core.worker.claimer import Claimer
from gdw_core.worker.execution import CANCEL_GRACE, Execution, elapsed
from gdw_core.worker.heartbeat import Heartbeat
from gdw_core.worker.outcomes import OutcomeWriter
from gdw_core.worker.progress import Progress
from gdw_core.worker.utilization import Utilization
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.worker")

#: after a graceful stop's timeout and the cancel grace, how long outcomes may still be written
OUTCOME_GRACE = 1.0

#: results of these types need no check at the validation boundary (JSON, within the limits)
_ALWAYS_STORABLE = frozenset({int, bool, type(None)})

__all__ = ["CANCEL_GRACE", "OUTCOME_GRACE", "Worker", "new_worker_id"]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        storage: Storage,
        registry: TaskRegistry,
        *,
        concurrency: int = 1,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        lease: float = 30.0,
        prefetch: int = 0,
        retry_policy: RetryPolicy | None = None,
        worker_id: str | None = None,
        heartbeat_interval: float | None = None,
        claim_wait: float = 1.0,
        on_command: Callable[[Command], None] | None = None,
        hooks: Sequence[Hooks] | HookSet = (),
        payload_limits: PayloadLimits | None = None,
        queue_weights: Mapping[str, int] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("a worker needs concurrency >= 1")
        if lease <= 0:
            raise ValueError("lease must be > 0 seconds")
        self.storage = storage
        self.registry = registry
        self.concurrency = concurrency
        self.queues = list(queues)
        self.lease = lease
        self.prefetch = max(0, prefetch)
        self.retry_policy = retry_policy or RetryPolicy()
        self.id = worker_id or new_worker_id()
        # renew at a third of the lease at most, and at least every second so that operator
        # cancellations and commands arrive within a second
        self.heartbeat_interval = heartbeat_interval or min(1.0, lease / 3)
        self.on_command = on_command
        self.hooks = hooks if isinstance(hooks, HookSet) else HookSet(hooks)
        self.limits = payload_limits or DEFAULT_LIMITS
        #: what startup hooks put here, every context task sees as ``ctx.resources``
        self.resources: dict[str, Any] = {}
        self.info = WorkerInfo(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=concurrency,
            started_at=time.time(),
            tasks=registry.names(),
            lease=lease,
            beat_every=self.heartbeat_interval,
        )
        self._running: dict[str, Execution] = {}
        self._looked = (0, 0)  # the busy and claimed counts at the heartbeat's last look (_stale)
        self._progress: dict[str, Progress] = {}
        self.claimer = Claimer(
            storage, self.id, self.queues, concurrency + self.prefetch, lease, claim_wait,
            lambda: len(self._running), self._storage_error,
            check_weights(self.queues, queue_weights) if queue_weights else None,
        )  # fmt: skip
        self.outcomes = OutcomeWriter(storage, self.id, lease, self._storage_error)
        self.heartbeat = Heartbeat(
            storage, self.info, lease, self.heartbeat_interval, self._held, self._on_reply, self._storage_error,
            self._stale,
        )  # fmt: skip
        self.utilization = Utilization(concurrency)
        self._loops: list[asyncio.Task[Any]] = []
        self._slots: list[asyncio.Task[Any]] = []
        self._claimer_task: asyncio.Task[Any] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._accepting = False
        self._stopped = asyncio.Event()
        self._policies: dict[str, RetryPolicy] = {}
        # records submitted in this process share one retry dict per policy (TaskQueue.policy_dict):
        # the policy built from a dict is found by the dict's identity, without formatting it
        self._policy_by_dict: dict[int, tuple[dict[str, Any], RetryPolicy]] = {}
        self._specs: dict[str, TaskSpec] = {}  # registry.get, remembered
        self._last_retry: tuple[dict[str, Any] | None, RetryPolicy] = (None, self.retry_policy)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._accepting

    async def start(self) -> None:
        if self._loops:
            return
        self._accepting = True
        # when it started, on the storage's clock: the command cursor starts there, so a host whose
        # clock is off neither misses the commands sent after it started nor replays older ones
        with contextlib.suppress(Exception):
            self.info.started_at = await self.storage.now()
        await self.hooks.call("worker_started", self.info, self.resources)
        await self._beat()
        self.outcomes.run()
        self._claimer_task = asyncio.create_task(self.claimer.run(), name=f"gdw-claim-{self.id}")
        self._loops = [self._claimer_task, asyncio.create_task(self.heartbeat.run(), name="gdw-heartbeat")]
        self._slots = [asyncio.create_task(self._slot(), name=f"gdw-slot-{i}") for i in range(self.concurrency)]

    async def stop(self, timeout: float | None = 30.0) -> None:
        """Stop claiming; let running tasks finish within ``timeout``; then interrupt the rest and
        give them back (release: the attempt is not spent). Buffered tasks go back to pending.
        Never takes longer than ``timeout`` + CANCEL_GRACE + OUTCOME_GRACE: outcomes still unsent
        then are abandoned with a log line (their leases expire; the tasks are recovered)."""
        if not self._loops:
            return
        began = time.monotonic()
        if self._accepting:
            self._accepting = False
            self.info.state = "draining"
            self.claimer.active = False
            if self._claimer_task is not None:
                self._claimer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._claimer_task
            for lease in self.claimer.take_all():  # claimed, never started: back to pending
                self.outcomes.release(lease, None)
            await self._until_idle(timeout)
            for run in list(self._running.values()):
                run.stop("shutdown")
            await self._until_idle(CANCEL_GRACE * 1.5)
        for slot in self._slots:
            slot.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        deadline = None if timeout is None else began + timeout + CANCEL_GRACE * 1.5 + OUTCOME_GRACE
        await self.outcomes.drain(deadline)
        await self.hooks.call("worker_stopping", self.info, self.resources)
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self.info.state = "stopped"
        self.info.busy = 0
        self.info.claimed = 0
        await self._safe(self.storage.remove_worker(self.id))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._loops = []
        self._slots = []
        self._stopped.set()

    async def _until_idle(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.utilization.busy and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.01)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _safe(self, aw: Any) -> Any:
        try:
            return await aw
        except (TimeoutError, GdwError, ConnectionError, OSError) as exc:
            log.warning("worker %s: storage call failed during shutdown: %s", self.id, exc)
            await self._storage_error("remove_worker", exc)
            return None

    async def _storage_error(self, operation: str, exc: BaseException) -> None:
        await self.hooks.call("on_storage_error", operation, exc)

    # -- running -----------------------------------------------------------------------------
    def _executor_now(self) -> ThreadPoolExecutor:
        if self._executor is None:  # never more than ``concurrency`` threads, even when some are stuck
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="gdw-sync")
        return self._executor

    async def _slot(self) -> None:
        me = asyncio.current_task()
        claimer, utilization = self.claimer, self.utilization
        while True:
            lease = claimer.next_nowait() or await claimer.next()
            started = time.monotonic()
            utilization.begin(started)
            try:
                await self._execute(lease, me, started)
            finally:
                utilization.end(time.monotonic())
                if claimer.wants_room:
                    claimer.room.set()

    def _policy_for(self, rec: TaskRecord, spec: TaskSpec | None) -> RetryPolicy:
        """The effective retry policy: the record's own (a per-call option), else the @task one,
        else the worker's default."""
        default = (spec.defaults.retry if spec else None) or self.retry_policy
        retry = rec.retry
        if retry is None:
            return default
        shared = self._policy_by_dict.get(id(retry))
        if shared is not None and shared[0] is retry:
            return shared[1]
        key = f"{retry}"
        policy = self._policies.get(key)
        if policy is None:
            policy = RetryPolicy.from_dict(retry, default.should_retry)
            if len(self._policies) < 1024:
                self._policies[key] = policy
        if len(self._policy_by_dict) < 1024:  # holds the dict, so its id is never reused meanwhile
            self._policy_by_dict[id(retry)] = (retry, policy)
        return policy

    def _context(self, lease: Lease, spec: TaskSpec) -> TaskContext | None:
        if not spec.defaults.takes_context:
            return None
        rec = lease.task
        token = lease.token

        async def write(value: Any) -> None:
            try:
                await self.storage.progress(rec.id, token, value)
            except (TimeoutError, GdwError, ConnectionError, OSError) as exc:
                log.warning("worker %s: progress of %s not written: %s", self.id, rec.id, exc)

        reporter = Progress(write, asyncio.get_running_loop())
        self._progress[rec.id] = reporter
        policy = self._policy_for(rec, spec)
        return TaskContext(
            rec.id, rec.name, rec.attempts, policy.max_attempts, self.id, rec.queue, self.resources, reporter.report
        )

    async def _execute(self, lease: Lease, slot: asyncio.Task[Any] | None = None, started: float | None = None) -> None:
        rec = lease.task
        if started is None:
            started = time.monotonic()
        spec = self._specs.get(rec.name)  # a name's registration never changes once made
        try:
            if spec is None:
                spec = self._specs[rec.name] = self.registry.get(rec.name)
        except UnknownTask as exc:
            log.error(
                "worker %s: task %s names %r, which is not registered here",
                self.id,
                rec.id,
                rec.name,
                extra=task_fields(rec),
            )
            self.outcomes.start(lease, started, None)
            await self._failed(lease, exc, None, started, final=True)
            return
        retry = rec.retry
        if retry is not None and retry is self._last_retry[0]:  # (as _policy_for finds it, without the call)
            policy = self._last_retry[1]
        else:
            policy = self._policy_for(rec, spec)
            if retry is not None:
                self._last_retry = (retry, policy)
        self.outcomes.start(lease, started, policy.max_retries)
        hooked = bool(self.hooks.hooks)
        if hooked:
            await self.hooks.call("before_task", rec, task_id=rec.id)
        run = Execution(lease, spec, self._context(lease, spec) if spec.defaults.takes_context else None, started)
        self._running[rec.id] = run  # (info.busy is len(_running), published by each heartbeat: _held)
        try:
            ended = await run.run(rec, self._executor_now, slot)
        except asyncio.CancelledError:  # an immediate stop of this slot
            self._running.pop(rec.id, None)
            await self._stopped_early(lease, "shutdown", None, started)
            raise
        finally:
            self._running.pop(rec.id, None)
        if self._progress:
            await self._settle_progress(rec.id)
        if ended.ok:
            result = run.result
            if type(result) in _ALWAYS_STORABLE and not hooked:  # the common case, inline
                self.info.processed += 1
                self.outcomes.ack(lease, result, started)
            else:
                await self._succeeded(lease, result, spec, started)
        elif ended.cause in ("cancel", "shutdown", "lost"):
            await self._stopped_early(lease, ended.cause, ended.error, started)
        else:
            assert ended.error is not None
            if ended.cause == "timeout" or (run.thread_done is not None and ended.cause):
                log.warning("worker %s: task %s: %s", self.id, rec.id, ended.error)
            await self._failed(lease, ended.error, spec, started, final=ended.cause == "fatal")

    async def _settle_progress(self, task_id: str) -> None:
        reporter = self._progress.pop(task_id, None)
        if reporter is not None:
            await reporter.settle()  # the last progress report lands before the outcome

    def _check_result(self, task_id: str, result: Any) -> None:
        """The validation boundary for results: JSON, within the depth and size limits."""
        what = f"result of task {task_id}"
        check_depth(result, what, self.limits)
        try:
            encoded = codec.dumps(result, what)
        except RecursionError:
            raise InvalidPayload(f"{what} is nested too deeply to encode") from None
        except InvalidPayload as exc:
            raise InvalidPayload(f"{exc}; return JSON values only (dict, list, str, int, float, bool, None)") from None
        check_size(encoded, what, self.limits)

    async def _succeeded(self, lease: Lease, result: Any, spec: TaskSpec, started: float) -> None:
        if type(result) not in _ALWAYS_STORABLE:
            try:
                self._check_result(lease.task.id, result)
            except InvalidPayload as exc:
                log.error("worker %s: %s", self.id, exc)
                await self._failed(lease, exc, spec, started, final=True)
                return
        self.info.processed += 1
        self.outcomes.ack(lease, result, started)
        if self.hooks:
            outcome = Outcome("completed", elapsed(started))
            await self.hooks.call("after_task", lease.task, outcome, task_id=lease.task.id)

    def _describe(self, exc: BaseException, attempt: int) -> AttemptError:
        error = describe(exc, attempt, self.id)
        if isinstance(exc, ChildTaskError):  # what the child raised, with the child's traceback
            error = replace(error, type=exc.type_name, traceback=exc.child_traceback)
        return error

    async def _stopped_early(self, lease: Lease, cause: str, exc: BaseException | None, started: float) -> None:
        rec = lease.task
        self._progress.pop(rec.id, None)
        if cause == "cancel":
            error = self._describe(exc or GdwError("cancelled by an operator"), rec.attempts)
            if "may still be running" in error.message:
                log.warning("worker %s: task %s: %s", self.id, rec.id, error.message)
            self.outcomes.cancel_running(lease, error)
            status = "cancelled"
        elif cause == "shutdown":
            note = Interrupted("worker shut down before the task finished (the attempt is not counted)")
            error = replace(describe(note, rec.attempts, self.id), counted=False)
            self.outcomes.release(lease, error)
            status = "released"
        else:  # "lost": someone else owns it now; write nothing
            log.warning("worker %s: lost the lease on %s; stopped it", self.id, rec.id)
            error, status = None, "lost"
        await self.hooks.call("after_task", rec, Outcome(status, elapsed(started), error), task_id=rec.id)

    async def _failed(
        self, lease: Lease, exc: BaseException, spec: TaskSpec | None, started: float, final: bool
    ) -> None:
        rec = lease.task
        self.info.failed += 1
        error = self._describe(exc, rec.attempts)
        if isinstance(exc, InvalidPayload | UnknownTask):
            final = True
        delay = None if final else decide(exc, rec, self._policy_for(rec, spec)).retry_delay
        self.outcomes.fail(lease, error, delay)
        status = "failed" if delay is None else "retrying"
        await self.hooks.call("after_task", rec, Outcome(status, elapsed(started), error, delay), task_id=rec.id)
        if delay is None:
            await self.hooks.call("on_failure", rec, error, task_id=rec.id)
        else:
            await self.hooks.call("on_retry", rec, error, delay, task_id=rec.id)

    # -- heartbeat ---------------------------------------------------------------------------
    def _held(self) -> dict[str, int]:
        held = self.outcomes.held()
        held.update((tid, run.lease.token) for tid, run in self._running.items())
        held.update((tid, lease.token) for tid, lease in self.claimer.buffered.items())
        self.info.busy = len(self._running)
        self.info.claimed = len(self.claimer.buffered)
        self.info.utilization = self.utilization.sample(self.heartbeat_interval / 2)
        # (a Storage written before failing_queues joined the protocol reports none)
        self.info.failing = dict(getattr(self.storage, "failing_queues", None) or {})
        return held

    def _stale(self) -> bool:
        """Whether the record the heartbeat last published has the wrong busy or claimed count,
        and the counts it should have held since the previous look (50 ms): a count that lasted
        less (a short task's start and end between two looks) is left to the regular beat."""
        counts = (len(self._running), len(self.claimer.buffered))
        seen, self._looked = self._looked, counts
        return counts == seen and counts != (self.info.busy, self.info.claimed)

    async def _beat(self) -> None:
        await self.heartbeat.beat()

    async def _on_reply(self, reply: HeartbeatReply) -> None:
        for task_id in reply.lost | reply.cancel:
            lease = self.claimer.buffered.get(task_id)
            if lease is not None and task_id not in self.claimer.dropped:
                # claimed ahead, not started: settle it now; the slot will skip it
                self.claimer.dropped.add(task_id)
                if task_id not in reply.lost:
                    why = GdwError("cancelled by an operator before it started")
                    error = describe(why, lease.task.attempts, self.id)
                    self.outcomes.cancel_running(lease, replace(error, type="TaskCancelled"))
        for task_id in reply.lost:
            run = self._running.get(task_id)
            if run is not None:
                log.warning("worker %s: lost the lease on %s; stopping it", self.id, task_id)
                run.stop("lost")
        for task_id in reply.cancel:
            run = self._running.get(task_id)
            if run is not None and run.cause is None:
                run.stop("cancel")
        for command in reply.commands:
            self._handle(command)

    def _handle(self, command: Command) -> None:
        if command.kind == "shutdown" and self.on_command is None:
            asyncio.get_running_loop().create_task(self.stop(0 if command.immediate else command.timeout))
        elif self.on_command is not None:
            self.on_command(command)
