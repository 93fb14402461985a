"""How a task is kept in Redis: a hash whose ``d`` field holds the parts that never change (one
compact JSON string) next to the fields the scripts update (status, attempts, token, times...).
Reading a hash back validates it: a malformed or hand-written entry raises InvalidPayload."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from gdw_core.codec import _encoder, dumps, loads
from gdw_core.errors import InvalidPayload
from gdw_core.limits import DEFAULT_READ_LIMITS, PayloadLimits, check_depth, check_size
from gdw_core.record import AttemptError, EmptyList, TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.redis.edges import workflow_fields


def static_json(rec: TaskRecord) -> str:
    """The ``d`` field: the parts of a record that never change, as compact JSON. Built from
    cached fragments (a task type's name, and its queue / priority / retries / timeout / secret,
    are the same for every submit of it): the text is the same as :func:`_static_json_dict`'s,
    which encodes it whole, and which also says why a record cannot be encoded."""
    try:
        return _static_json_fast(rec)
    except (TypeError, ValueError, RecursionError):
        return _static_json_dict(rec)  # raises InvalidPayload, saying why


#: list types whose empty value is ``[]`` in JSON: a plain list, and the records' shared empty one
_PLAIN_LISTS = frozenset({list, EmptyList})

#: cache sizes: past these a cache starts over (a process submits few distinct task types)
_CACHE_MAX = 1024
_heads: dict[str, str] = {}  # name -> '{"name":"<name>","args":'
_tails: dict[tuple[Any, ...], tuple[str, str]] = {}  # queue, priority, ... -> the text around "retry"
#: id(retry dict) -> (that dict, a deep copy of it, its JSON): the dict is held, so its id is not
#: reused meanwhile; the copy notices a dict changed in place since (then it is encoded again)
_retries: dict[int, tuple[dict[str, Any], dict[str, Any], str]] = {}


def _static_json_fast(rec: TaskRecord) -> str:
    encode = _encoder.encode
    name = rec.name
    head = _heads.get(name)
    if head is None:
        if len(_heads) >= _CACHE_MAX:
            _heads.clear()
        head = _heads[name] = '{"name":' + encode(name) + ',"args":'
    args, kwargs = rec.args, rec.kwargs
    priority, retries, timeout, recurring, secret = (
        rec.priority,
        rec.max_retries,
        rec.timeout,
        rec.recurring_id,
        rec.secret,
    )
    # the types too: 1, 1.0 and True are equal keys but different JSON
    key = (
        rec.queue,
        *(priority, type(priority), retries, type(retries), timeout, type(timeout)),
        *(recurring, type(recurring), secret, type(secret)),
    )
    tail = _tails.get(key)
    if tail is None:
        if len(_tails) >= _CACHE_MAX:
            _tails.clear()
        tail = _tails[key] = (
            f',"queue":{encode(rec.queue)},"priority":{encode(priority)},"max_retries":{encode(retries)},"retry":',
            f',"timeout":{encode(timeout)},"recurring_id":{encode(recurring)},"secret":{encode(secret)}',
        )
    retry = rec.retry
    if retry is None:
        retry_json = "null"
    else:
        seen = _retries.get(id(retry))
        if seen is not None and seen[0] is retry and seen[1] == retry:
            retry_json = seen[2]
        else:
            retry_json = encode(retry)
            if len(_retries) >= _CACHE_MAX:
                _retries.clear()
            _retries[id(retry)] = (retry, copy.deepcopy(retry), retry_json)
    text = (
        head
        + ("[]" if not args and type(args) in _PLAIN_LISTS else encode(args))
        + ',"kwargs":'
        + ("{}" if type(kwargs) is dict and not kwargs else encode(kwargs))
        + tail[0]
        + retry_json
        + tail[1]
    )
    if (
        rec.traceparent is None
        and not rec.limits
        and rec.expires_at is None
        and rec.result_ttl is None
        and rec.unique_key is None
    ):
        return text + "}"
    extra: dict[str, Any] = {}
    _optional(rec, extra)
    return text + "," + encode(extra)[1:]


def _optional(rec: TaskRecord, data: dict[str, Any]) -> None:
    """The fields a record has only when they are set (the payload is unchanged otherwise)."""
    if rec.traceparent is not None:  # only when tracing is on
        data["traceparent"] = rec.traceparent
    if rec.limits:  # the claim script looks for these keys (gdw_core.flow)
        data["limits"] = rec.limits
    if rec.expires_at is not None:
        data["expires_at"] = rec.expires_at
    if rec.result_ttl is not None:
        data["result_ttl"] = rec.result_ttl
    if rec.unique_key is not None:  # the enqueue script looks for this key
        data["unique_key"] = rec.unique_key
        data["unique_for"] = rec.unique_for
        data["debounce"] = rec.debounce


def _static_json_dict(rec: TaskRecord) -> str:
    data: dict[str, Any] = {
        "name": rec.name,
        "args": rec.args,
        "kwargs": rec.kwargs,
        "queue": rec.queue,
        "priority": rec.priority,
        "max_retries": rec.max_retries,
        "retry": rec.retry,
        "timeout": rec.timeout,
        "recurring_id": rec.recurring_id,
        "secret": rec.secret,
    }
    _optional(rec, data)
    return dumps(data, f"task {rec.id}")


def enqueue_args(rec: TaskRecord) -> tuple[Any, ...]:
    """The 9 ARGV values of one task for enqueue.lua."""
    return (
        rec.id,
        static_json(rec),
        rec.name,
        _STATUS_TEXT.get(rec.status) or str(rec.status),
        int(rec.priority),
        int(rec.max_retries),
        repr(float(rec.run_at)) if rec.run_at else "0.0",
        "" if rec.delay is None else repr(float(rec.delay)),
        repr(float(rec.created_at)) if rec.created_at else "0.0",
    )


_STATUS_TEXT = {status: str(status) for status in TaskStatus}


def error_args(error: AttemptError) -> tuple[str, str]:
    """An attempt error as a JSON prefix ending in ``"at":`` and its time ('' = the script's now)."""
    fields: dict[str, Any] = {
        "attempt": error.attempt,
        "type": error.type,
        "message": error.message,
        "traceback": error.traceback,
        "worker": error.worker,
    }
    if not error.counted:
        fields["counted"] = False
    body = dumps(fields, "attempt error")
    return body[:-1] + ',"at":', (repr(float(error.at)) if error.at else "")


def _static(task_id: str, d: str | None, limits: PayloadLimits) -> dict[str, Any]:
    if not d:
        raise InvalidPayload(f"task {task_id}: stored record has no payload")
    check_size(d, f"task {task_id}: stored payload", limits)
    if d.count("[") + d.count("{") > limits.max_depth:  # only then can it be too deep
        try:
            data = loads(d, f"stored payload of task {task_id}")
        except RecursionError:
            raise InvalidPayload(f"task {task_id}: stored payload is nested too deep to decode") from None
        check_depth(data, f"task {task_id}: stored payload", limits)
    else:
        data = loads(d, f"stored payload of task {task_id}")
    if not isinstance(data, dict):
        raise InvalidPayload(f"task {task_id}: stored payload must be a JSON object, got {type(data).__name__}")
    return data


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _time_field(task_id: str, value: str, what: str) -> float:
    """A stored time field as claim.lua returns it (checked here, not in the script)."""
    try:
        t = float(value or 0)
    except ValueError:
        t = math.nan
    if not math.isfinite(t):
        raise InvalidPayload(f"task {task_id}: the {what} field is not a number")
    return t


def from_claim(
    task_id: str,
    d: str,
    attempts: int,
    times: str,
    worker: str,
    deadline: float,
    limits: PayloadLimits = DEFAULT_READ_LIMITS,
) -> TaskRecord:
    """The record of a task just claimed (status claimed, not started). InvalidPayload when its
    payload cannot be read: too big, bad JSON, too deep, not an object, fields of the wrong type."""
    data = _static(task_id, d, limits)
    created, _, run_at = times.partition("|")
    try:
        data.update(
            id=task_id,
            status="claimed",
            attempts=int(attempts),
            created_at=_time_field(task_id, created, "created"),
            run_at=_time_field(task_id, run_at, "run-at"),
            worker=worker,
        )
        rec = TaskRecord.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise InvalidPayload(f"task {task_id}: malformed stored record: {exc}") from exc
    if not rec.name:
        raise InvalidPayload(f"task {task_id}: empty task name")
    return rec


def from_hash(task_id: str, h: Mapping[str, str], limits: PayloadLimits = DEFAULT_READ_LIMITS) -> TaskRecord:
    """A full record from its hash (HGETALL). Raises InvalidPayload when it is malformed."""
    data = _static(task_id, h.get("d"), limits)
    try:
        errors = loads(h["errs"], "errors") if h.get("errs") else []
        if h.get("mx"):  # the effective retry budget (the worker's @task policy, set at start)
            data["max_retries"] = int(h["mx"])
        data.update(
            id=task_id,
            status=TaskStatus(h.get("st", "pending")),
            attempts=int(h.get("att") or 0),
            created_at=_float(h.get("cr")) or 0.0,
            run_at=_float(h.get("run")) or 0.0,
            started_at=_float(h.get("sa")),
            finished_at=_float(h.get("fa")),
            worker=h.get("w") or None,
            result=loads(h["res"], "result") if h.get("res") else None,
            errors=errors if isinstance(errors, list) else [],
            progress=loads(h["prog"], "progress") if h.get("prog") else None,
            cancel_requested=h.get("creq") == "1",
            throttled_by=(h.get("thr") or None) if h.get("st") == "throttled" else None,
        )
        data.update(workflow_fields(h))  # parents, children, ... of a workflow node
        return TaskRecord.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise InvalidPayload(f"task {task_id}: malformed stored record: {exc}") from exc
