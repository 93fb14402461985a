"""The canvas API through a TaskQueue (with its in-process worker) on memory and Redis storage:
result passing, group order, chord, depends_on, and the errors bad workflows get (nothing stored)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gdw_core import InvalidTask, TaskFailed, TaskQueue, TaskStatus, UnknownTask, chain, chord, group, sig
from gdw_core.storage.redis import RedisStorage
from gdw_core.workflow import DependencyCycle, UnknownDependency, WorkflowError
from tests.support.redis_server import RedisServer
from tests.workflow import wf_tasks
from tests.workflow.wf_tasks import add, collect, fails_once, total

S = TaskStatus


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[TaskQueue]:
    storage: Any = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.cli("flushall")
        storage = RedisStorage.from_url(server.url)
    async with TaskQueue(worker_count=4, storage=storage, tasks=[wf_tasks], lease=5.0) as q:
        yield q


async def test_chain_of_five(queue: TaskQueue) -> None:
    handle = await queue.submit_workflow(chain(sig(add, 1), sig(add), sig(add, y=10), sig(add), sig(add, y=100)))
    assert await handle.result(timeout=20) == 1 + 1 + 1 + 10 + 1 + 100
    assert len(handle.ids) == 5 and handle.roots == handle.ids[:1] and handle.leaves == handle.ids[-1:]


async def test_group_result_is_in_member_order(queue: TaskQueue) -> None:
    handle = await queue.submit_workflow(group(*(sig(add, i, 0) for i in range(10))))
    assert await handle.result(timeout=20) == list(range(10))


async def test_chord(queue: TaskQueue) -> None:
    handle = await chord([sig(add, i) for i in range(20)], sig(total, extra=1000)).submit(queue)
    assert await handle.result(timeout=20) == sum(i + 1 for i in range(20)) + 1000


async def test_chain_through_a_group(queue: TaskQueue) -> None:
    flow = chain(sig(add, 1, 1), group(sig(add, y=1), sig(add, y=2)), sig(collect))
    handle = await queue.submit_workflow(flow)
    assert await handle.result(timeout=20) == [3, 4]


async def test_depends_on_plain_submit(queue: TaskQueue) -> None:
    first = await queue.submit(add, 1)
    second = await queue.options(depends_on=[first]).submit(add, 5)
    assert await queue.result(second, timeout=20) == 6  # nothing passed: only waited
    assert (await queue.status(second)).parents == [first]


async def test_failure_cancels_the_rest_and_a_rerun_finishes_it(queue: TaskQueue) -> None:
    key = f"k-{id(queue)}-{queue.storage.address}"
    wf_tasks.TRIES.pop(key, None)
    handle = await queue.submit_workflow(chain(sig(fails_once, key), sig(collect), sig(collect)))
    first, second, _third = handle.ids
    with pytest.raises(TaskFailed):
        await handle.result(timeout=20)
    assert (await queue.status(first)).status is S.FAILED
    got = await queue.status(second)
    assert (got.status, got.cancelled_by) == (S.CANCELLED, first)
    assert await queue.rerun(first)
    assert await handle.result(timeout=20) == key


async def test_unknown_dependency_and_cycles_store_nothing(queue: TaskQueue) -> None:
    with pytest.raises(UnknownDependency, match="nope"):
        await queue.options(depends_on=["nope"]).submit(add, 1)
    with pytest.raises(WorkflowError, match="itself"):
        await queue.options(task_id="self-dep", depends_on=["self-dep"]).submit(add, 1)
    a = sig(add, 1).options(task_id="cyc-a", depends_on=["cyc-b"])
    b = sig(add, 1).options(task_id="cyc-b", depends_on=["cyc-a"])
    with pytest.raises(DependencyCycle, match=r"cyc-a -> cyc-b -> cyc-a|cyc-b -> cyc-a -> cyc-b"):
        await queue.submit_workflow(group(a, b, sig(add, 2).options(task_id="cyc-c")))
    for task_id in ("self-dep", "cyc-a", "cyc-b", "cyc-c"):
        assert await queue.storage.get(task_id) is None
    assert sum((await queue.storage.counts()).values()) == 0


async def test_bad_members_are_refused_before_anything_is_stored(queue: TaskQueue) -> None:
    with pytest.raises(InvalidTask):
        chain(sig(add, 1), "not a signature")  # type: ignore[arg-type]
    with pytest.raises(InvalidTask, match="on_parent_failure"):
        sig(add).options(on_parent_failure="maybe")
    flow = chain(sig(add, 1).options(task_id="good-1"), sig(lambda x: x))
    if queue.storage.supports_local_callables:
        handle = await queue.submit_workflow(flow)  # memory runs local callables
        assert await handle.result(timeout=20) == 2
    else:
        with pytest.raises(InvalidTask, match="lambda"):
            await queue.submit_workflow(flow)
        assert await queue.storage.get("good-1") is None


async def test_a_name_no_live_worker_registers_is_named(queue: TaskQueue) -> None:
    for _ in range(200):  # the in-process worker's first heartbeat publishes what it runs
        if await queue.storage.workers():
            break
        await asyncio.sleep(0.01)
    flow = chain(sig("tests.workflow.wf_tasks:add", 1).options(task_id="named-1"), sig("nosuch.module:fn"))
    with pytest.raises((WorkflowError, UnknownTask), match=r"nosuch\.module:fn"):
        await queue.submit_workflow(flow)
    assert await queue.storage.get("named-1") is None


async def test_workflow_nodes_take_named_limits(queue: TaskQueue) -> None:
    # four worker slots, but the group's members share a concurrency limit of 1: never two at once
    key = f"lim-{id(queue)}"
    await queue.limits.set(key, concurrency=1)
    members = [sig(wf_tasks.overlapping, key, i).options(limits=[key], result_ttl=3600) for i in range(6)]
    handle = await queue.submit_workflow(chord(members, sig(collect)))
    assert await handle.result(timeout=30) == list(range(6))
    assert wf_tasks.MOST[key] == 1
    rec = await queue.status(handle.ids[0])
    assert rec.limits == [key] and rec.result_ttl == 3600
