"""The task registry: name -> function. For a worker it is the allowlist: a message naming anything
that is not registered fails with :class:`UnknownTask`, and nothing is ever imported because a
message said so.

Names are ``"module:qualname"``. Functions marked with :func:`task` carry their default options.
A module registered with :meth:`TaskRegistry.register_module` contributes its ``@task`` functions; a
module with no ``@task`` at all contributes every public function defined in it.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any, TypeVar, overload

from gdw_core.errors import InvalidTask, UnknownTask
from gdw_core.flow.limit import check_limit_names
from gdw_core.flow.rate import Rate, parse_rate
from gdw_core.flow.uniqueness import window
from gdw_core.retry import RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])

NAME_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
LOCAL_PREFIX = "local:"  # names of in-process callables (lambdas, closures): memory storage only
_MARK = "__gdw_task__"


@dataclass(frozen=True, slots=True)
class TaskDefaults:
    """Options a task carries from its ``@task`` decorator; per-call options override them."""

    name: str | None = None
    queue: str | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    priority: int | None = None
    secret: bool = False
    takes_context: bool = False
    #: "thread" (sync functions run in the worker's thread pool; they cannot be stopped) or
    #: "process" (a child process per call, killed on timeout, cancel, shutdown or lost lease)
    isolation: str = "thread"
    #: named limits it takes (gdw_core.flow); ``rate`` / ``concurrency``: a limit named after the task
    limits: tuple[str, ...] = ()
    rate: Rate | None = None
    concurrency: int | None = None
    #: seconds a completed task's record and result are kept (at most the storage's retention)
    result_ttl: float | None = None


ISOLATIONS = ("thread", "process")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    func: Callable[..., Any]
    is_async: bool
    defaults: TaskDefaults = field(default_factory=TaskDefaults)


@overload
def task(func: F, /) -> F: ...
@overload
def task(
    *,
    name: str | None = None,
    queue: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    priority: int | None = None,
    secret: bool = False,
    context: bool = False,
    isolation: str = "thread",
    limits: Sequence[str] = (),
    rate: str | None = None,
    concurrency: int | None = None,
    result_ttl: float | timedelta | None = None,
) -> Callable[[F], F]: ...
def task(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    priority: int | None = None,
    secret: bool = False,
    context: bool = False,
    isolation: str = "thread",
    limits: Sequence[str] = (),
    rate: str | None = None,
    concurrency: int | None = None,
    result_ttl: float | timedelta | None = None,
) -> Any:
    """Mark a function as a gdw task. ``context=True`` passes a :class:`TaskContext` as the
    keyword argument ``ctx``. ``secret=True`` redacts its arguments in logs and the dashboard.
    ``limits=["stripe"]`` makes it take those named limits (gdw_core.flow); ``rate="20/s"`` and
    ``concurrency=2`` are a limit named after the task, defined by the queue that registers it.
    ``result_ttl=60`` deletes a completed run (and its result) a minute after it finished."""

    if name is not None and not NAME_RE.match(name):
        raise InvalidTask(f"task name {name!r} must look like 'module:function'")
    if isolation not in ISOLATIONS:
        raise InvalidTask(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
    if isolation == "process" and context:
        raise InvalidTask("a task with isolation='process' cannot take a context (ctx lives in the worker)")
    bad_concurrency = isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    if concurrency is not None and bad_concurrency:
        raise InvalidTask(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    defaults = TaskDefaults(
        name,
        queue,
        retry,
        timeout,
        priority,
        secret,
        context,
        isolation,
        check_limit_names(limits),
        None if rate is None else parse_rate(rate),
        concurrency,
        window(result_ttl, "result_ttl"),
    )

    def mark(f: F) -> F:
        if not callable(f):
            raise InvalidTask(f"@task needs a function, got {f!r}")
        if isolation == "process":
            if _is_async(f):
                raise InvalidTask("isolation='process' is for sync functions; an async task runs in the worker's loop")
            if importable_name(f) is None:
                raise InvalidTask(
                    "isolation='process' needs a module-level function the child process can import by module:qualname"
                )
        setattr(f, _MARK, defaults)
        return f

    return mark(func) if func is not None else mark


def defaults_of(func: Callable[..., Any]) -> TaskDefaults:
    found = getattr(func, _MARK, None)
    return found if isinstance(found, TaskDefaults) else TaskDefaults()


def importable_name(func: Callable[..., Any]) -> str | None:
    """``module:qualname`` when a worker in another process could find ``func`` by that name."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    name = f"{module}:{qualname}"
    return name if NAME_RE.match(name) else None


def _is_async(func: Callable[..., Any]) -> bool:
    inner = func
    while isinstance(inner, functools.partial):
        inner = inner.func
    return inspect.iscoroutinefunction(inner) or inspect.iscoroutinefunction(
        getattr(inner, "__call__", None)  # noqa: B004 - async callable objects
    )


class TaskRegistry:
    def __init__(self, funcs: Iterable[Callable[..., Any]] = ()) -> None:
        self._specs: dict[str, TaskSpec] = {}
        self._by_func: dict[int, TaskSpec] = {}
        for f in funcs:
            self.register(f)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def get(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTask(name, "this worker's allowlist does not include it") from None

    def find(self, name: str) -> TaskSpec | None:
        """The spec registered under ``name``, or None."""
        return self._specs.get(name)

    def spec_of(self, func: Callable[..., Any]) -> TaskSpec | None:
        """The spec ``func`` is registered as, or None (never registers it)."""
        return self._by_func.get(id(func))

    def register(self, func: Callable[..., Any], name: str | None = None) -> TaskSpec:
        """Register ``func`` under ``name`` (default: its ``@task`` name, else ``module:qualname``;
        in-process callables such as lambdas get a ``local:`` name usable with memory storage only)."""
        if not callable(func) or isinstance(func, type):
            raise InvalidTask(f"a task must be a function, got {func!r}")
        known = self._by_func.get(id(func))
        if known is not None and (name is None or name == known.name):
            return known
        defaults = defaults_of(func)
        chosen = name or defaults.name or importable_name(func)
        if chosen is None:
            label = getattr(func, "__qualname__", type(func).__name__)
            module = getattr(func, "__module__", None)
            chosen = f"{LOCAL_PREFIX}{module}.{label}" if module else f"{LOCAL_PREFIX}{label}"
            taken = self._specs.get(chosen)
            if taken is not None and taken.func is not func:  # two lambdas, two closures...
                chosen = f"{chosen}#{id(func):x}"
        elif not NAME_RE.match(chosen):
            raise InvalidTask(f"task name {chosen!r} must look like 'module:function'")
        existing = self._specs.get(chosen)
        if existing is not None and existing.func is not func:
            raise InvalidTask(f"task name {chosen!r} is already registered to another function")
        spec = TaskSpec(chosen, func, _is_async(func), defaults)
        self._specs[chosen] = spec
        self._by_func[id(func)] = spec
        return spec

    def register_module(self, module: ModuleType) -> list[TaskSpec]:
        """Register the tasks a module defines (see the module docstring for which)."""
        own = [
            v
            for k, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == module.__name__ and not k.startswith("_")
        ]
        marked = [f for f in own if hasattr(f, _MARK)]
        return [self.register(f) for f in (marked or own)]

    def spec_for(self, func: Callable[..., Any]) -> TaskSpec | None:
        return self._by_func.get(id(func))
