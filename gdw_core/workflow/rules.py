"""The fan-in rules every backend follows, written once: what a parent's state means for a child
that waits on it. The memory backend calls :func:`effect`; the Redis Lua prelude's
``PARENT_EFFECT`` table is generated from :data:`EFFECT` (:func:`lua_tables`)."""

from __future__ import annotations

import json

from gdw_core.errors import InvalidTask
from gdw_core.status import TaskStatus

S = TaskStatus

#: what a child does when a parent fails for good or is cancelled
ON_PARENT_FAILURE = ("cancel", "run")
#: what a child receives from its feeding parents: nothing, one result, the list of results
TAKES = ("", "one", "list")

SATISFIED = "sat"  # this edge no longer holds the child back
CANCEL = "cancel"  # the child is cancelled, naming this parent

#: parent status -> {on_parent_failure -> effect}; a status not listed keeps the child waiting
EFFECT: dict[TaskStatus, dict[str, str]] = {
    S.COMPLETED: {"cancel": SATISFIED, "run": SATISFIED},
    S.FAILED: {"cancel": CANCEL, "run": SATISFIED},
    S.CANCELLED: {"cancel": CANCEL, "run": SATISFIED},
}


def effect(parent: TaskStatus | None, on_parent_failure: str) -> str | None:
    """The effect of one edge; ``parent`` None is a parent purged by retention (it finished long
    ago: treated as satisfied, its result as null). None: the child keeps waiting."""
    if parent is None:
        return SATISFIED
    row = EFFECT.get(parent)
    return None if row is None else row.get(on_parent_failure, row["cancel"])


def check_on_parent_failure(value: str) -> str:
    if value not in ON_PARENT_FAILURE:
        raise InvalidTask(f"on_parent_failure must be one of {', '.join(ON_PARENT_FAILURE)}, got {value!r}")
    return value


def lua_tables() -> str:
    """``PARENT_EFFECT`` for the Lua prelude (sent in front of it with the lifecycle tables)."""
    rows = ", ".join(
        f"{s.value} = {{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in row.items()) + "}"
        for s, row in EFFECT.items()
    )
    return f"local PARENT_EFFECT = {{{rows}}}\n"
