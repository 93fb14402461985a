"""The validation boundary at every submit entry point (issue 10): limits, grammar, duplicate ids,
unknown queues. Each refusal is one clear error and leaves nothing enqueued."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gdw_core import DuplicateTask, InvalidPayload, InvalidTask, QueueNotFound, TaskQueue, TaskStatus, task
from gdw_core.codec import check_args, dumps, loads
from gdw_core.limits import DEFAULT_LIMITS, PayloadLimits, check_entry_id, check_queue_name, check_task_id

S = TaskStatus


async def add(a: int = 0, b: int = 0) -> int:
    return a + b


@task(queue="br{ace}s")
async def badly_queued() -> None:
    return None


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
async def q() -> AsyncIterator[TaskQueue]:
    queue = TaskQueue(worker_count=0, run_scheduler=False)
    queue.register(add)
    async with queue:
        yield queue


async def total(q: TaskQueue) -> int:
    return sum((await q.inspect.counts()).values())


# -- issue 10 item 2: deep arguments --------------------------------------------------------------
async def test_issue10_item2_deep_argument_refused_at_submit(q: TaskQueue) -> None:
    deep = nested(970)
    with pytest.raises(InvalidPayload, match="nested more than 64 levels"):
        await q.submit(add, deep)
    with pytest.raises(InvalidPayload, match="nested more than 64 levels"):
        await q.submit(add, b={"x": deep})
    with pytest.raises(InvalidPayload, match="nested"):
        await q.schedule(add, 5, deep)
    with pytest.raises(InvalidPayload, match="nested"):
        await q.schedule_at(add, datetime.now(UTC) + timedelta(hours=1), deep)
    with pytest.raises(InvalidPayload, match="nested"):
        await q.schedule_recurring(add, deep, interval=60)
    assert await total(q) == 0 and await q.inspect.recurring() == []


async def test_deep_beyond_the_interpreter_stack_is_refused_not_a_recursion_error(q: TaskQueue) -> None:
    with pytest.raises(InvalidPayload):
        await q.submit(add, nested(100_000))
    assert await total(q) == 0


async def test_depth_at_the_limit_is_accepted(q: TaskQueue) -> None:
    # args is one level: an argument 63 deep makes 64
    tid = await q.submit(add, nested(63))
    assert (await q.status(tid)).args == [nested(63)]
    with pytest.raises(InvalidPayload):
        await q.submit(add, nested(64))


# -- issue 10 item 5: huge arguments --------------------------------------------------------------
async def test_issue10_item5_huge_argument_refused_at_submit(q: TaskQueue) -> None:
    huge = "x" * (DEFAULT_LIMITS.max_bytes + 1)  # a plain string: the fast path must measure it too
    with pytest.raises(InvalidPayload, match="over the limit of 524,288 bytes"):
        await q.submit(add, huge)
    with pytest.raises(InvalidPayload, match="over the limit"):
        await q.submit(add, b=[huge])
    with pytest.raises(InvalidPayload, match="over the limit"):
        await q.schedule(add, 1, huge)
    assert await total(q) == 0


async def test_escapes_count_towards_the_size(q: TaskQueue) -> None:
    # 100k control characters are 600k bytes of JSON (each one is \u0001)
    with pytest.raises(InvalidPayload, match="over the limit"):
        await q.submit(add, "\x01" * 100_000)
    assert await total(q) == 0


async def test_just_under_the_size_limit_is_accepted(q: TaskQueue) -> None:
    text = "y" * (DEFAULT_LIMITS.max_bytes - 100)
    tid = await q.submit(add, text)
    assert (await q.status(tid)).args == [text]


async def test_limits_are_configurable_per_queue() -> None:
    small = PayloadLimits(max_bytes=2048, max_depth=3)
    async with TaskQueue(worker_count=0, run_scheduler=False, payload_limits=small) as q:
        q.register(add)
        await q.submit(add, "z" * 1000)
        with pytest.raises(InvalidPayload, match="over the limit of 2,048 bytes"):
            await q.submit(add, "z" * 3000)
        with pytest.raises(InvalidPayload, match="nested more than 3"):
            await q.submit(add, [[[1]]])
        assert await total(q) == 1


async def test_submit_many_refuses_the_batch_naming_the_bad_call(q: TaskQueue) -> None:
    calls: list[Any] = [(1, 2)] * 10 + [(nested(500),)] + [(3, 4)] * 10
    with pytest.raises(InvalidPayload, match=r"submit_many call 10: .*nothing was enqueued"):
        await q.submit_many(add, calls)
    assert await total(q) == 0
    assert len(await q.submit_many(add, [(1, 2)] * 10)) == 10


# -- grammar of ids and queue names ---------------------------------------------------------------
BAD_NAMES = ["", "br{ace}s", "new\nline", "trailing\n", "with space", "tab\there", "-leading", "x" * 101, "é"]
BAD_IDS = ["", "br{ace}s", "new\nline", "trailing\n", "with space", "x" * 201, "a/b", "\x1b[31m"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_queue_names_are_refused(q: TaskQueue, name: str) -> None:
    with pytest.raises(InvalidTask, match="queue name"):
        await q.options(queue=name).submit(add)
    assert await total(q) == 0


@pytest.mark.parametrize("task_id", BAD_IDS)
async def test_bad_task_ids_are_refused(q: TaskQueue, task_id: str) -> None:
    with pytest.raises(InvalidTask, match="task id"):
        await q.options(task_id=task_id).submit(add)
    assert await total(q) == 0


async def test_a_task_default_queue_is_checked_too(q: TaskQueue) -> None:
    q.register(badly_queued)
    with pytest.raises(InvalidTask, match=r"queue name 'br\{ace\}s'"):
        await q.submit(badly_queued)
    assert await total(q) == 0


@pytest.mark.parametrize("entry_id", ["", "a@b", "sp ace", "x" * 181, "new\nline"])
async def test_bad_recurring_entry_ids_are_refused(q: TaskQueue, entry_id: str) -> None:
    with pytest.raises(InvalidTask, match="recurring entry id"):
        await q.schedule_recurring(add, interval=60, entry_id=entry_id)
    assert await q.inspect.recurring() == []


def test_good_names_pass_the_grammar() -> None:
    assert check_queue_name("images.v2:eu-1_a") == "images.v2:eu-1_a"
    assert check_task_id("entry@1700000000000") == "entry@1700000000000"
    assert check_task_id("a" * 200) and check_entry_id("b" * 180)


# -- issue 10 item 11: duplicate ids ---------------------------------------------------------------
async def test_issue10_item11_duplicate_id_is_reported(q: TaskQueue) -> None:
    assert await q.options(task_id="job-1").submit(add, 1) == "job-1"
    with pytest.raises(DuplicateTask, match="'job-1' already exists \\(pending\\)") as caught:
        await q.options(task_id="job-1").submit(add, 2)
    assert (caught.value.task_id, caught.value.status) == ("job-1", "pending")
    with pytest.raises(DuplicateTask):
        await q.options(task_id="job-1").schedule(add, 30, 3)
    rec = await q.status("job-1")
    assert rec.args == [1] and rec.status is S.PENDING  # the existing task is untouched
    assert await total(q) == 1


async def test_a_duplicate_id_in_another_queue_is_reported_too(q: TaskQueue) -> None:
    await q.options(task_id="job-3", queue="images").submit(add, 1)
    with pytest.raises(DuplicateTask, match="job-3"):
        await q.options(task_id="job-3", queue="emails").submit(add, 2)
    assert await total(q) == 1


async def test_if_exists_skip_returns_the_existing_id(q: TaskQueue) -> None:
    await q.options(task_id="job-2").submit(add, 1)
    assert await q.options(task_id="job-2", if_exists="skip").submit(add, 2) == "job-2"
    assert (await q.status("job-2")).args == [1] and await total(q) == 1


async def test_if_exists_must_be_a_known_choice(q: TaskQueue) -> None:
    with pytest.raises(InvalidTask, match="if_exists"):
        q.options(task_id="x", if_exists="replace")


# -- issue 10 item 11: pausing an unknown queue ----------------------------------------------------
async def test_issue10_item11_pause_unknown_queue_refused(q: TaskQueue) -> None:
    with pytest.raises(QueueNotFound, match="no queue named 'nosuchqueue'"):
        await q.control.pause("nosuchqueue")
    with pytest.raises(QueueNotFound):
        await q.control.resume("nosuchqueue")
    assert "nosuchqueue" not in {i.name for i in await q.inspect.queues()}  # no phantom


async def test_pause_a_known_or_created_queue(q: TaskQueue) -> None:
    await q.options(queue="images").submit(add)
    await q.control.pause("images")
    assert {i.name: i.paused for i in await q.inspect.queues()}["images"] is True
    await q.control.resume("images")
    await q.control.pause("later", create=True)
    assert {i.name: i.paused for i in await q.inspect.queues()}["later"] is True
    with pytest.raises(InvalidTask, match="queue name"):
        await q.control.pause("br{ace}s", create=True)


# -- codec: never a RecursionError out of gdw ------------------------------------------------------
def test_loads_of_deep_text_is_invalid_payload() -> None:
    with pytest.raises(InvalidPayload, match="too deeply"):
        loads("[" * 100_000 + "]" * 100_000, "args")


def test_dumps_of_a_deep_value_is_invalid_payload() -> None:
    with pytest.raises(InvalidPayload, match="too deeply"):
        dumps(nested(100_000), "result")


@pytest.mark.parametrize(
    ("text", "reason"),
    [(b"\xff\xfe[1]", "UTF-8"), ("{nope", "not valid JSON"), ("1" * 5000, "cannot be decoded")],
)
def test_loads_of_bad_text_says_why(text: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        loads(text, "record")


def test_loads_with_limits_enforces_size_and_depth() -> None:
    limits = PayloadLimits(max_bytes=1024, max_depth=5)
    assert loads("[[[[1]]]]", "x", limits) == [[[[1]]]]
    with pytest.raises(InvalidPayload, match="nested more than 5"):
        loads(json.dumps(nested(10)), "x", limits)
    with pytest.raises(InvalidPayload, match="over the limit of 1,024"):
        loads(json.dumps("a" * 2000), "x", limits)
    assert loads(json.dumps(nested(200))) == nested(200)  # no limits: only what JSON can hold


def test_dumps_with_limits() -> None:
    limits = PayloadLimits(max_bytes=1024, max_depth=2)
    assert dumps([[1]], "r", limits) == "[[1]]"
    with pytest.raises(InvalidPayload, match="nested"):
        dumps([[[1]]], "r", limits)
    with pytest.raises(InvalidPayload, match="over the limit"):
        dumps("q" * 2000, "r", limits)


@pytest.mark.parametrize(
    "value", [{1, 2}, object(), float("nan"), b"bytes", 10**5000], ids=["set", "object", "nan", "bytes", "huge-int"]
)
def test_check_args_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(InvalidPayload):
        check_args([value], {})
    with pytest.raises(InvalidPayload):
        check_args([], {"k": value})


def test_check_args_fast_path_accepts_plain_values() -> None:
    check_args(["a", 1, True, None, -(2**62)], {"k": "v", "n": 3})
    check_args((), {})
