"""Process isolation: ``@task(isolation="process")`` runs a sync function in a child process
(multiprocessing, "spawn" context) that can really be stopped. The child finds the function by its
``module:qualname`` and gets its arguments and returns its result as JSON. On timeout, cancel,
shutdown or a lost lease the child gets SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from typing import Any

from gdw_core import codec
from gdw_core.errors import GdwError, Retry, SkipRetry

#: seconds between SIGTERM and SIGKILL
KILL_GRACE = 0.5
_CTX = multiprocessing.get_context("spawn")


class ChildTaskError(GdwError):
    """The task raised in its child process; ``type_name`` and ``child_traceback`` are the child's."""

    def __init__(self, type_name: str, message: str, child_traceback: str) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.child_traceback = child_traceback


def _find(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _child_main(conn: Connection, module: str, qualname: str, payload: str) -> None:
    try:
        args, kwargs = json.loads(payload)
        result = _find(module, qualname)(*args, **kwargs)
        try:
            text = json.dumps(result, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            conn.send(("error", "InvalidPayload", f"result is not JSON-serialisable: {exc}", "", None))
        else:
            conn.send(("ok", text))
    except BaseException as exc:  # everything the task raised goes back to the worker
        kind = "retry" if isinstance(exc, Retry) else "skip" if isinstance(exc, SkipRetry) else "error"
        delay = exc.delay if isinstance(exc, Retry) else None
        conn.send((kind, type(exc).__name__, str(exc)[:4000], traceback.format_exc()[-20_000:], delay))
    finally:
        conn.close()


class ProcessCall:
    """One call of ``module:qualname`` in a child process. Awaiting :meth:`run` returns the result;
    cancelling it kills the child."""

    def __init__(self, target: str, args: Any, kwargs: Any) -> None:
        self.module, _, self.qualname = target.partition(":")
        self.payload = codec.dumps([list(args), dict(kwargs)], "task arguments")
        self.pid: int | None = None
        self.killed = False

    async def run(self) -> Any:
        loop = asyncio.get_running_loop()
        receiver, sender = _CTX.Pipe(duplex=False)
        proc = _CTX.Process(target=_child_main, args=(sender, self.module, self.qualname, self.payload), daemon=True)
        try:
            proc.start()
            sender.close()
            self.pid = proc.pid
            readable: asyncio.Future[None] = loop.create_future()
            fd = receiver.fileno()

            def ready() -> None:
                if not readable.done():
                    readable.set_result(None)

            loop.add_reader(fd, ready)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            try:
                message = receiver.recv()
            except EOFError:
                message = None
        except BaseException:
            await self.kill(proc)
            raise
        finally:
            receiver.close()
        await self._reap(proc, KILL_GRACE)
        if message is None:
            await self.kill(proc)
            raise ChildTaskError(
                "ChildExited", f"task's process (pid {self.pid}) exited with code {proc.exitcode} without a result", ""
            )
        if message[0] == "ok":
            return codec.loads(message[1], "result from the task's process")
        kind, type_name, text, tb, delay = message
        if kind == "retry":
            raise Retry(delay)
        if kind == "skip":
            raise SkipRetry(text)
        raise ChildTaskError(type_name, text, tb)

    async def _reap(self, proc: Any, grace: float) -> bool:
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        while proc.is_alive() and loop.time() < until:
            await asyncio.sleep(0.01)
        return not proc.is_alive()

    async def kill(self, proc: Any) -> None:
        if proc.pid is None or not proc.is_alive():
            return
        self.killed = True
        proc.terminate()
        try:
            if not await self._reap(proc, KILL_GRACE):
                proc.kill()
                await self._reap(proc, KILL_GRACE)
        except asyncio.CancelledError:
            proc.kill()
            raise
