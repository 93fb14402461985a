"""Running one attempt of a task: in the worker's loop (async), in its thread pool (sync) or in a
child process (``isolation="process"``), with its timeout, and stoppable by a cause (cancel,
shutdown, lost lease, timeout)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gdw_core.errors import TaskCancelled, TaskTimeout
from gdw_core.isolation import ProcessCall
from gdw_core.record import TaskRecord
from gdw_core.registry import TaskSpec, importable_name
from gdw_core.storage.protocol import Lease

#: how long a task that ignores cancellation is waited for before its slot is taken back
CANCEL_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Ended:
    """How an attempt ended: ``ok`` (it returned: the value is the :class:`Execution`'s ``result``),
    ``error`` (it raised), or ``cause`` (we stopped it: "cancel" | "shutdown" | "lost" |
    "timeout", with ``error`` saying what became of it)."""

    ok: bool
    error: BaseException | None = None
    cause: str | None = None


#: the one ``Ended`` of every attempt that returned (shared: nothing is built per task for it)
RETURNED = Ended(True)


class Execution:
    # until set on the instance (most attempts set none of them but ``inline`` and ``result``)
    cause: str | None = None
    future: asyncio.Future[Any] | None = None
    thread_done: threading.Event | None = None
    process: ProcessCall | None = None
    inline: asyncio.Task[Any] | None = None  # the slot itself, on the fast path
    result: Any = None  # what the attempt returned (when it ended RETURNED)

    def __init__(self, lease: Lease, spec: TaskSpec, ctx: Any, started: float) -> None:
        self.lease = lease
        self.spec = spec
        self.ctx = ctx
        self.started = started

    def stop(self, cause: str) -> None:
        if self.cause is None:
            self.cause = cause
        if self.inline is not None:
            self.inline.cancel()
        elif self.future is not None:
            self.future.cancel()

    def _call(self, executor: Callable[[], ThreadPoolExecutor]) -> Any:
        rec = self.lease.task
        kwargs = rec.kwargs if self.ctx is None else {**rec.kwargs, "ctx": self.ctx}
        if self.spec.is_async:
            return self.spec.func(*rec.args, **kwargs)
        if self.spec.defaults.isolation == "process":
            target = importable_name(self.spec.func) or self.spec.name
            self.process = ProcessCall(target, rec.args, kwargs)
            return self.process.run()
        done = self.thread_done = threading.Event()
        func = functools.partial(self.spec.func, *rec.args, **kwargs)

        def in_thread() -> Any:
            try:
                return func()
            finally:
                done.set()

        # the thread sees the slot's context variables (the task fields of JSON log lines)
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(executor(), context.run, in_thread)

    def _unstoppable(self) -> str:
        """What became of a task we tried to stop, said plainly."""
        if self.process is not None:
            return f"; its process (pid {self.process.pid}) was killed" if self.process.killed else ""
        if self.thread_done is not None and not self.thread_done.is_set():
            return (
                "; it runs in a thread, which cannot be stopped, and may still be running "
                "(@task(isolation='process') runs it in a process that is killed)"
            )
        if self.future is not None and not self.future.done():
            return "; it ignored cancellation and may still be running"
        return ""

    def stop_error(self, timeout: float | None) -> BaseException | None:
        tail = self._unstoppable()
        if self.cause == "timeout":
            return TaskTimeout(f"task ran past its timeout of {timeout:g}s{tail}")
        if self.cause == "cancel":
            return TaskCancelled(f"cancelled by an operator{tail}")
        return None

    def run(
        self, rec: TaskRecord, executor: Callable[[], ThreadPoolExecutor], slot: asyncio.Task[Any] | None = None
    ) -> Coroutine[Any, Any, Ended]:
        """The attempt, to await. ``slot``: the asyncio task it runs in (the worker's slot), when
        the caller knows it."""
        timeout = rec.timeout if rec.timeout is not None else self.spec.defaults.timeout
        if self.spec.is_async and timeout is None:
            return self._run_inline(slot)
        return self._run_apart(executor, timeout)

    async def _run_apart(self, executor: Callable[[], ThreadPoolExecutor], timeout: float | None) -> Ended:
        """A sync task (thread or process) or one with a timeout: in its own future, waited for."""
        try:
            self.future = asyncio.ensure_future(self._call(executor))
        except Exception as exc:  # bad arguments for the function, etc.
            return Ended(False, error=exc)
        try:
            done, _ = await asyncio.wait((self.future,), timeout=timeout)
        except asyncio.CancelledError:  # the slot itself is being stopped (an immediate stop)
            self.stop("shutdown")
            await asyncio.wait((self.future,), timeout=CANCEL_GRACE)
            raise
        if not done:
            self.stop("timeout")
        if self.cause is not None:
            if not self.future.done():
                await asyncio.wait((self.future,), timeout=CANCEL_GRACE)
            return Ended(False, error=self.stop_error(timeout), cause=self.cause)
        try:
            self.result = self.future.result()
            return RETURNED
        except asyncio.CancelledError:
            return Ended(False, cause="shutdown")
        except Exception as exc:
            return Ended(False, error=exc)
        except BaseException as exc:  # SystemExit / KeyboardInterrupt raised by user code
            return Ended(False, error=exc, cause="fatal")

    async def _run_inline(self, slot: asyncio.Task[Any] | None) -> Ended:
        """The fast path (an async task without a timeout): it runs inside the slot's own asyncio
        task; stopping it cancels the slot, which catches that here and carries on."""
        rec = self.lease.task
        kwargs = rec.kwargs if self.ctx is None else {**rec.kwargs, "ctx": self.ctx}
        self.inline = slot or asyncio.current_task()  # (current_task asks the OS for the pid: once per slot)
        try:
            result = await self.spec.func(*rec.args, **kwargs)
        except asyncio.CancelledError:
            if self.cause is None:  # this slot itself is being stopped (an immediate stop)
                raise
            if self.inline is not None:
                self.inline.uncancel()
            return Ended(False, error=self.stop_error(None), cause=self.cause)
        except Exception as exc:
            return Ended(False, error=exc)
        except BaseException as exc:  # SystemExit / KeyboardInterrupt raised by user code
            return Ended(False, error=exc, cause="fatal")
        finally:
            slot, self.inline = self.inline, None
        if self.cause is not None and slot is not None and slot.cancelling():
            slot.uncancel()  # the task swallowed our cancellation and finished: it completed
        self.result = result
        return RETURNED


def elapsed(since: float) -> float:
    return max(0.0, time.monotonic() - since)
