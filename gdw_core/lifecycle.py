"""The rules every backend follows, written once. The memory backend calls these; the Redis Lua
prelude's tables are generated from them (:func:`lua_tables`), never copied by hand. A backend may
differ in how it stores, never in what a transition means.

* which transitions exist: :data:`gdw_core.status.TRANSITIONS`;
* where each status is indexed (the Redis key suffix), and which retention applies to it;
* attempt accounting: a claim counts an attempt; a release gives it back (a graceful drain never
  spends a retry); an expired lease keeps it counted (a crash may), and a task whose attempts are
  spent through lost leases fails as poison;
* the detail strings events carry;
* which worker a command targets;
* whether a worker is alive (from its heartbeat's freshness, never from what it says).
"""

from __future__ import annotations

import json
from typing import Any

from gdw_core.status import LEASED, TERMINAL, TRANSITIONS, WAITING, TaskStatus
from gdw_core.storage.protocol import Command
from gdw_core.workerinfo import WorkerInfo

S = TaskStatus

#: each status's index (a Redis key suffix under the queue prefix; the memory backend keys by status)
INDEX: dict[TaskStatus, str] = {
    S.SCHEDULED: "ds",
    S.PENDING: "p",
    S.CLAIMED: "k",
    S.RUNNING: "r",
    S.RETRYING: "dr",
    S.THROTTLED: "th",  # score: when it may be tried again (gdw_core.flow)
    S.COMPLETED: "c",
    S.FAILED: "f",
    S.CANCELLED: "x",
    S.BLOCKED: "b",  # score: created-at
}

#: what each index's score is made of, named by the task-record field it comes from: "pri" the
#: priority, then FIFO (the Lua prelude's pending_score), "run" the run-at time, "dl" the lease
#: deadline (lease_score), "fa" the finished-at time, "cr" the created-at time. The scripts score a
#: task this way when they move it; a repair (gdw_core.repair) re-indexes a task from its record
#: by this table.
INDEX_SCORE: dict[TaskStatus, str] = {
    S.SCHEDULED: "run",
    S.PENDING: "pri",
    S.CLAIMED: "dl",
    S.RUNNING: "dl",
    S.RETRYING: "run",
    S.THROTTLED: "run",
    S.COMPLETED: "fa",
    S.FAILED: "fa",
    S.CANCELLED: "fa",
    S.BLOCKED: "cr",
}

#: which retention (count and TTL of :class:`gdw_core.storage.protocol.Retention`) a finished status
#: falls under: "completed" -> completed_count / completed_ttl, "failed" -> failed_count / failed_ttl
RETENTION_CLASS: dict[TaskStatus, str] = {
    S.COMPLETED: "completed",
    S.FAILED: "failed",
    S.CANCELLED: "failed",
}

#: the statuses every view lists oldest (or soonest due) first; finished ones are listed newest first
LISTED_OLDEST_FIRST: frozenset[TaskStatus] = frozenset(s for s in TaskStatus if s not in TERMINAL)

#: where a released (handed back, not spent) task goes, by the status it was released from
RELEASE_TO: dict[TaskStatus, TaskStatus] = {
    S.CLAIMED: S.PENDING,  # never started: straight back to the queue
    S.RUNNING: S.RETRYING,  # interrupted by a drain: due again now, attempt given back
}

#: where a task whose lease expired goes while it has attempts left (the attempt stays counted)
RECOVER_TO = S.RETRYING


class Detail:
    """The ``detail`` strings of events, the same on every backend."""

    RELEASED = "released"
    LEASE_EXPIRED = "lease expired"
    POISON = "poison: attempts spent through lost leases"
    CANCELLED_BY_OPERATOR = "cancelled by operator"
    RETRY_NOW = "retry now"
    INVALID = "InvalidPayload"
    RERUN = "rerun"
    # workflow fan-in (gdw_core.workflow): the parent's id follows the prefix
    PARENT_FAILED = "parent failed: "
    PARENT_CANCELLED = "parent cancelled: "
    PARENTS_DONE = "parents done"
    REVIVED = "revived: parent re-run: "
    THROTTLED = "throttled"
    EXPIRED = "expired"  # cancelled by a claim: not started before its expires_at (gdw_core.flow)
    NOT_STARTED_IN_TIME = "not started before it expired"  # the message of its error entry


def attempts_after_claim(attempts: int) -> int:
    return attempts + 1


def attempts_after_release(attempts: int) -> int:
    """A release gives the claim's attempt back: a drain or a hand-back never spends a retry."""
    return max(0, attempts - 1)


#: the finished statuses an operator can re-run (``-> pending`` under the same id)
RERUN_FROM: frozenset[TaskStatus] = frozenset({S.FAILED, S.CANCELLED})


def attempts_after_rerun(attempts: int) -> int:
    """A re-run gets a fresh attempt budget: the attempt counter (which the retry policy and the
    poison rule compare with max_retries) starts again from 0. The history is kept: every earlier
    attempt's error stays in ``errors``, each with the attempt number it had."""
    return 0


def is_poison(attempts: int, max_retries: int) -> bool:
    """After a lost lease: the attempts are spent (the task keeps killing or losing its workers)."""
    return attempts >= max_retries + 1


def targets(command: Command, worker_id: str) -> bool:
    """Whether ``command`` is meant for the worker ``worker_id`` (None = every worker)."""
    return command.worker is None or command.worker == worker_id


#: a worker is dead when its heartbeat is older than this many of its own heartbeat intervals
STALE_BEATS = 3.0
#: ... and at least this many seconds old (a tiny interval must not make a busy loop look dead)
STALE_MIN = 2.0


#: worker records no longer live are kept this long (seconds) as history, at most this many
WORKER_HISTORY_SECONDS = 3600.0
WORKER_HISTORY_MAX = 200


def stale_after(info: WorkerInfo) -> float:
    return max(STALE_BEATS * info.beat_every, STALE_MIN)


def worker_state(info: WorkerInfo, now: float) -> str:
    """``running`` | ``draining`` | ``stopped`` | ``dead``. A worker that stopped gracefully says
    so; one whose heartbeat went stale without a goodbye is dead, whatever its record says."""
    if info.state == "stopped":
        return "stopped"
    if now - info.last_seen > stale_after(info):
        return "dead"
    return info.state


def is_live(info: WorkerInfo, now: float) -> bool:
    return worker_state(info, now) in ("running", "draining")


def _lua_set(statuses: Any) -> str:
    return "{" + ", ".join(f"{s.value} = true" for s in sorted(statuses, key=lambda s: s.value)) + "}"


def lua_tables() -> str:
    """The Lua prelude's shared tables, rendered from the rules above (the Redis scripts load this
    text in front of ``_prelude.lua``)."""
    lines = ["-- generated from gdw_core.lifecycle and gdw_core.status at load time: do not edit"]
    allowed = ", ".join(f"{old.value} = {_lua_set(new)}" for old, new in TRANSITIONS.items())
    lines.append(f"local ALLOWED = {{{allowed}}}")
    index = ", ".join(f"{s.value} = {json.dumps(suffix)}" for s, suffix in INDEX.items())
    lines.append(f"local INDEX = {{{index}}}")
    score = ", ".join(f"{s.value} = {json.dumps(field)}" for s, field in INDEX_SCORE.items())
    lines.append(f"local INDEX_SCORE = {{{score}}}")
    lines.append(f"local TERMINAL = {_lua_set(TERMINAL)}")
    lines.append(f"local LEASED = {_lua_set(LEASED)}")
    lines.append(f"local WAITING = {_lua_set(WAITING)}")
    retention = ", ".join(f"{s.value} = {json.dumps(c)}" for s, c in RETENTION_CLASS.items())
    lines.append(f"local RETENTION_CLASS = {{{retention}}}")
    release = ", ".join(f"{s.value} = {json.dumps(t.value)}" for s, t in RELEASE_TO.items())
    lines.append(f"local RELEASE_TO = {{{release}}}")
    lines.append(f"local RECOVER_TO = {json.dumps(RECOVER_TO.value)}")
    details = ", ".join(f"{k} = {json.dumps(v)}" for k, v in vars(Detail).items() if k.isupper() and isinstance(v, str))
    lines.append(f"local DETAIL = {{{details}}}")
    return "\n".join(lines) + "\n"
