"""The worker: claims tasks from storage, runs them in ``concurrency`` slots, records outcomes,
keeps its leases alive with one heartbeat round trip, and stops gracefully.

Loops (each an asyncio task): the claimer fills a local buffer (free slots + ``prefetch``), the
slots run tasks, the acker sends completions in batches (whatever piled up while the previous
batch was in flight), the heartbeat extends leases and brings cancellations and commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gdw_core.context import TaskContext
from gdw_core.errors import GdwError, Interrupted, TaskCancelled, TaskTimeout, UnknownTask
from gdw_core.failure import decide, describe
from gdw_core.record import DEFAULT_QUEUE, TaskRecord
from gdw_core.registry import TaskRegistry, TaskSpec
from gdw_core.retry import RetryPolicy
from gdw_core.storage.protocol import Ack, Command, Lease, Storage
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.worker")

#: how long a task that ignores cancellation is waited for before its slot is taken back
CANCEL_GRACE = 1.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Running:
    __slots__ = ("cause", "lease", "task")

    def __init__(self, lease: Lease, task: asyncio.Future[Any]) -> None:
        self.lease = lease
        self.task = task
        self.cause: str | None = None  # "cancel" | "shutdown" | "lost" | "timeout" when we stop it


class _Progress:
    """Coalesces a task's progress reports: at most one write in flight, always the latest value.
    ``report`` may be called from the task's thread (sync tasks)."""

    def __init__(self, worker: Worker, lease: Lease, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.lease = lease
        self.loop = loop
        self.value: Any = None
        self.dirty = False
        self.flushing: asyncio.Task[None] | None = None

    def report(self, value: Any) -> None:
        self.loop.call_soon_threadsafe(self._set, value)

    def _set(self, value: Any) -> None:
        self.value = value
        self.dirty = True
        if self.flushing is None:
            self.flushing = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.dirty:
                self.dirty = False
                await self.worker._safe(self.worker.storage.progress(self.lease.task.id, self.lease.token, self.value))
        finally:
            self.flushing = None

    async def settle(self) -> None:
        await asyncio.sleep(0)  # let reports queued from a thread arrive
        if self.flushing is not None:
            await self.flushing
        elif self.dirty:
            await self._flush()


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
        self.claim_wait = claim_wait
        self.on_command = on_command
        self.info = WorkerInfo(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=concurrency,
            started_at=time.time(),
            tasks=registry.names(),
        )
        self._buffer: asyncio.Queue[Lease] = asyncio.Queue()
        self._buffered: dict[str, Lease] = {}  # what is in _buffer, for the heartbeat
        self._progress: dict[str, _Progress] = {}
        self._dropped: dict[str, str] = {}  # buffered task ids already settled: never start them
        self._running: dict[str, _Running] = {}
        self._acks: list[Ack] = []
        self._ack_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._loops: list[asyncio.Task[Any]] = []
        self._slots: list[asyncio.Task[Any]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._accepting = False
        self._stopped = asyncio.Event()
        self._busy_since = time.monotonic()
        self._busy_integral = 0.0
        self._busy = 0
        self._last_beat = time.monotonic()
        self._claimer_task: asyncio.Task[Any] | None = None
        self._policies: dict[str, RetryPolicy] = {}

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
        await self._beat()
        self._claimer_task = asyncio.create_task(self._claimer(), name=f"gdw-claim-{self.id}")
        self._loops = [
            self._claimer_task,
            asyncio.create_task(self._acker(), name="gdw-ack"),
            asyncio.create_task(self._heartbeater(), name="gdw-heartbeat"),
        ]
        self._slots = [asyncio.create_task(self._slot(), name=f"gdw-slot-{i}") for i in range(self.concurrency)]

    async def stop(self, timeout: float | None = 30.0) -> None:
        """Stop claiming; let running tasks finish within ``timeout``; then interrupt the rest and
        give them back as retryable. Buffered tasks that never started go back uncounted."""
        if not self._loops:
            return
        if self._accepting:
            self._accepting = False
            self.info.state = "draining"
            if self._claimer_task is not None:
                self._claimer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._claimer_task
            # tasks claimed but not started: hand them back, attempt not counted
            while not self._buffer.empty():
                lease = self._buffer.get_nowait()
                self._buffered.pop(lease.task.id, None)
                await self._safe(self.storage.release(lease.task.id, lease.token, None))
            # wait for in-flight tasks
            await self._until_idle(timeout)
            for run in list(self._running.values()):
                run.cause = "shutdown"
                run.task.cancel()
            # let the slots record what they interrupted (a task that ignores cancellation is
            # left behind after the grace period; its lease then expires and it is recovered)
            await self._until_idle(CANCEL_GRACE)
        for slot in self._slots:
            slot.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        await self._flush_acks()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self.info.state = "stopped"
        self.info.busy = 0
        await self._safe(self.storage.remove_worker(self.id))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._loops = []
        self._slots = []
        self._stopped.set()

    async def _until_idle(self, timeout: float | None) -> None:
        """Until no slot is busy (running a task or recording its outcome), or ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._busy and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.01)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _safe(self, aw: Any) -> Any:
        try:
            return await aw
        except (TimeoutError, GdwError, ConnectionError, OSError) as exc:
            log.warning("worker %s: storage call failed during shutdown: %s", self.id, exc)
            return None

    # -- claiming ----------------------------------------------------------------------------
    def _capacity_left(self) -> int:
        return self.concurrency + self.prefetch - len(self._running) - self._buffer.qsize()

    async def _claimer(self) -> None:
        backoff = 0.05
        while self._accepting:
            room = self._capacity_left()
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                leases = await self.storage.claim(self.id, self.queues, room, self.lease, self.claim_wait)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage outage: say so, back off, keep going
                log.warning("worker %s: claim failed (%s); retrying in %.2fs", self.id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for lease in leases:
                self._buffered[lease.task.id] = lease
                self._buffer.put_nowait(lease)

    # -- running -----------------------------------------------------------------------------
    async def _slot(self) -> None:
        while True:
            lease = await self._buffer.get()
            del self._buffered[lease.task.id]
            dropped = self._dropped.pop(lease.task.id, None)
            if dropped is not None:  # settled (cancelled / lost) while waiting in the buffer
                self._room.set()
                continue
            self._mark_busy(+1)
            try:
                await self._execute(lease)
            finally:
                self._mark_busy(-1)
                self._room.set()

    def _mark_busy(self, delta: int) -> None:
        now = time.monotonic()
        self._busy_integral += self._busy * (now - self._busy_since)
        self._busy_since = now
        self._busy += delta

    def _policy_for(self, rec: TaskRecord, spec: TaskSpec | None) -> RetryPolicy:
        default = (spec.defaults.retry if spec else None) or self.retry_policy
        if rec.retry is None:
            return default
        key = f"{rec.retry}"
        policy = self._policies.get(key)
        if policy is None:
            policy = RetryPolicy.from_dict(rec.retry, default.should_retry)
            if len(self._policies) < 1024:
                self._policies[key] = policy
        return policy

    def _call(self, spec: TaskSpec, rec: TaskRecord, ctx: TaskContext | None) -> Any:
        kwargs = rec.kwargs
        if ctx is not None:
            kwargs = {**kwargs, "ctx": ctx}
        if spec.is_async:
            return spec.func(*rec.args, **kwargs)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="gdw-sync")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(spec.func, *rec.args, **kwargs))

    def _context(self, lease: Lease, spec: TaskSpec) -> TaskContext | None:
        if not spec.defaults.takes_context:
            return None
        rec = lease.task
        reporter = _Progress(self, lease, asyncio.get_running_loop())
        self._progress[rec.id] = reporter
        return TaskContext(rec.id, rec.name, rec.attempts, rec.max_attempts, self.id, rec.queue, reporter.report)

    async def _execute(self, lease: Lease) -> None:
        rec = lease.task
        try:
            spec = self.registry.get(rec.name)
        except UnknownTask as exc:
            await self._fail(lease, exc, None, final=True)
            return
        try:
            aw = self._call(spec, rec, self._context(lease, spec))
        except Exception as exc:  # bad arguments for the function, etc.
            await self._fail(lease, exc, spec, final=False)
            return
        timeout = rec.timeout if rec.timeout is not None else spec.defaults.timeout
        if timeout is None:
            await self._run_inline(lease, spec, aw)
        else:
            await self._run_with_timeout(lease, spec, aw, timeout)

    async def _run_inline(self, lease: Lease, spec: TaskSpec, aw: Any) -> None:
        """The fast path: the task runs inside this slot's own asyncio task. Stopping it (cancel,
        shutdown, lost lease) cancels the slot task, which catches that here and carries on."""
        slot = asyncio.current_task()
        assert slot is not None
        run = _Running(lease, slot)
        task_id = lease.task.id
        self._running[task_id] = run
        try:
            result = await aw
        except asyncio.CancelledError:
            if run.cause is None:  # this slot itself is being stopped (immediate stop)
                await self._stopped_early(lease, "shutdown")
                raise
            slot.uncancel()
            await self._stopped_early(lease, run.cause)
            return
        except Exception as exc:
            await self._fail(lease, exc, spec, final=False)
            return
        except BaseException as exc:  # SystemExit / KeyboardInterrupt raised by user code
            await self._fail(lease, exc, spec, final=True)
            return
        finally:
            self._running.pop(task_id, None)
        await self._succeeded(lease, result)

    async def _run_with_timeout(self, lease: Lease, spec: TaskSpec, aw: Any, timeout: float) -> None:
        """A task with a timeout runs as its own asyncio task so that one ignoring cancellation
        can be abandoned after a grace period and its slot taken back."""
        task: asyncio.Future[Any] = asyncio.ensure_future(aw)
        run = _Running(lease, task)
        self._running[lease.task.id] = run
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
            if not done:
                run.cause = run.cause or "timeout"
                task.cancel()
                await asyncio.wait((task,), timeout=CANCEL_GRACE)
                raise TaskTimeout(f"task ran past its timeout of {timeout:g}s")
            result = task.result()
        except asyncio.CancelledError:
            # either we cancelled the task (run.cause says why) or this slot itself was cancelled
            # (an immediate stop): the task goes with it
            task.cancel()
            await self._stopped_early(lease, run.cause or "shutdown")
            if run.cause is None:
                raise
            return
        except Exception as exc:
            if run.cause in ("cancel", "shutdown", "lost"):
                await self._stopped_early(lease, run.cause)
            else:
                await self._fail(lease, exc, spec, final=False)
            return
        except BaseException as exc:
            await self._fail(lease, exc, spec, final=True)
            return
        finally:
            self._running.pop(lease.task.id, None)
        await self._succeeded(lease, result)

    async def _succeeded(self, lease: Lease, result: Any) -> None:
        reporter = self._progress.pop(lease.task.id, None)
        if reporter is not None:
            await reporter.settle()  # the last progress report lands before the outcome
        self.info.processed += 1
        self._acks.append(Ack(lease.task.id, lease.token, result))
        self._ack_ready.set()

    async def _stopped_early(self, lease: Lease, cause: str | None) -> None:
        rec = lease.task
        self._progress.pop(rec.id, None)
        if cause == "cancel":
            err = describe(TaskCancelled("cancelled by an operator"), rec.attempts, self.id)
            await self._safe(self.storage.cancel_running(rec.id, lease.token, err))
        elif cause == "shutdown":
            err = describe(Interrupted("worker shut down before the task finished"), rec.attempts, self.id)
            await self._safe(self.storage.release(rec.id, lease.token, err))
        # "lost": someone else owns it now; write nothing

    async def _fail(self, lease: Lease, exc: BaseException, spec: TaskSpec | None, final: bool) -> None:
        rec = lease.task
        reporter = self._progress.pop(rec.id, None)
        if reporter is not None:
            await reporter.settle()
        self.info.failed += 1
        error = describe(exc, rec.attempts, self.id)
        delay = None if final else decide(exc, rec, self._policy_for(rec, spec)).retry_delay
        if isinstance(exc, UnknownTask):
            log.error("worker %s: task %s names %r, which is not registered here", self.id, rec.id, rec.name)
        try:
            await self.storage.fail(rec.id, lease.token, error, delay)
        except Exception as store_exc:
            log.warning("worker %s: could not record failure of %s: %s", self.id, rec.id, store_exc)

    # -- acks --------------------------------------------------------------------------------
    async def _acker(self) -> None:
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        backoff = 0.05
        while self._acks:
            batch, self._acks = self._acks, []
            try:
                await self.storage.complete(batch)
            except asyncio.CancelledError:
                self._acks[:0] = batch
                raise
            except Exception as exc:
                # keep them: retried until the lease would run out (then the recoverer re-runs
                # the task; at-least-once)
                log.warning("worker %s: ack of %d tasks failed (%s); retrying", self.id, len(batch), exc)
                self._acks[:0] = batch
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.lease / 4)

    # -- heartbeat ---------------------------------------------------------------------------
    def _utilization(self) -> float:
        now = time.monotonic()
        self._mark_busy(0)
        elapsed = now - self._last_beat
        self._last_beat = now
        integral, self._busy_integral = self._busy_integral, 0.0
        return 0.0 if elapsed <= 0 else min(1.0, integral / (elapsed * self.concurrency))

    async def _beat(self) -> None:
        self.info.busy = self._busy
        self.info.utilization = self._utilization()
        held = {tid: r.lease.token for tid, r in self._running.items()}
        held.update({task_id: lease.token for task_id, lease in self._buffered.items()})
        self.info.held = list(held)
        reply = await self.storage.heartbeat(self.info, held, self.lease)
        for task_id in reply.lost | reply.cancel:
            lease = self._buffered.get(task_id)
            if lease is not None and task_id not in self._dropped:
                # claimed ahead, not started: settle it now; the slot will skip it
                self._dropped[task_id] = "skip"
                await self._stopped_early(lease, "lost" if task_id in reply.lost else "cancel")
        for task_id in reply.lost:
            run = self._running.get(task_id)
            if run is not None:
                log.warning("worker %s: lost the lease on %s; stopping it", self.id, task_id)
                run.cause = "lost"
                run.task.cancel()
        for task_id in reply.cancel:
            run = self._running.get(task_id)
            if run is not None and run.cause is None:
                run.cause = "cancel"
                run.task.cancel()
        for command in reply.commands:
            self._handle(command)

    def _handle(self, command: Command) -> None:
        if command.kind == "shutdown" and self.on_command is None:
            asyncio.get_running_loop().create_task(self.stop(0 if command.immediate else command.timeout))
        elif self.on_command is not None:
            self.on_command(command)

    async def _heartbeater(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._beat()
                if failures:
                    log.warning("worker %s: storage reachable again", self.id)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("worker %s: heartbeat failed (%s)", self.id, exc)
