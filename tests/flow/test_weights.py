"""Weighted queues: 6:3:1 shares claims 60/30/10 (±15%) while all three queues are full, on an
embedded queue and across a real worker process; --strict / no weights keep strict order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.errors import InvalidTask
from gdw_core.flow.weights import WeightedOrder, parse_queues
from gdw_core.storage.redis import RedisStorage
from tests.redis.conftest import spawn_worker
from tests.support.redis_server import RedisServer

WEIGHTS = {"high": 6, "default": 3, "low": 1}


def test_smooth_weighted_round_robin_spreads_the_picks() -> None:
    order = WeightedOrder(WEIGHTS)
    picks = [order.pick() for _ in range(10)]
    assert {q: picks.count(q) for q in WEIGHTS} == WEIGHTS
    assert picks[:3] != ["high"] * 3  # interleaved, not in blocks
    assert order.shares(20) == {"high": 12, "default": 6, "low": 2}


def test_queue_lists_read_weights() -> None:
    assert parse_queues(["high:6", "default:3", "low:1"]) == (["high", "default", "low"], WEIGHTS)
    assert parse_queues(["a", "b"]) == (["a", "b"], {})
    assert parse_queues(["a:2", "b"]) == (["a", "b"], {"a": 2, "b": 1})
    for bad in (["a:0"], ["a", "a"], ["bad name:3"]):
        with pytest.raises(InvalidTask):
            parse_queues(bad)


def shares_of(order: list[str]) -> dict[str, float]:
    return {q: order.count(q) / len(order) for q in WEIGHTS}


def close_to_weights(shares: dict[str, float]) -> bool:
    return all(abs(shares[q] - w / 10) <= 0.15 * (w / 10) for q, w in WEIGHTS.items())


async def test_an_embedded_queue_shares_claims_by_weight() -> None:
    ran: list[str] = []

    async def job(queue: str) -> None:
        ran.append(queue)
        await asyncio.sleep(0)

    q = TaskQueue(worker_count=4, queues=list(WEIGHTS), queue_weights=WEIGHTS, queue_size=None, tasks=[job])
    for name in WEIGHTS:
        await q.options(queue=name).submit_many(job, [(name,) for _ in range(300)])
    async with q:
        while len(ran) < 300:
            await asyncio.sleep(0.01)
    shares = shares_of(ran[:300])  # while all three queues still have work
    print("weighted embedded shares:", {q: round(v, 3) for q, v in shares.items()})
    assert close_to_weights(shares), shares


async def test_without_weights_the_order_is_strict() -> None:
    ran: list[str] = []

    async def job(queue: str) -> None:
        ran.append(queue)

    q = TaskQueue(worker_count=4, queues=list(WEIGHTS), queue_size=None, tasks=[job])
    for name in WEIGHTS:
        await q.options(queue=name).submit_many(job, [(name,) for _ in range(50)])
    async with q:
        while len(ran) < 150:
            await asyncio.sleep(0.01)
    assert ran[:50] == ["high"] * 50


@pytest.mark.redis
async def test_a_worker_process_shares_claims_by_weight(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path
) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    ids = {}
    for name in WEIGHTS:
        ids[name] = await producer.options(queue=name).submit_many("proc_tasks:quick", [(i,) for i in range(400)])
    worker = spawn_worker(redis_server.url, task_dir, concurrency=5, queues=list(WEIGHTS), queue_weights=WEIGHTS)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            counts = {q: (await redis_storage.counts(q)) for q in WEIGHTS}
            done = {q: c[next(s for s in c if str(s) == "completed")] for q, c in counts.items()}
            if sum(done.values()) >= 400 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)
    finished = []
    for name in WEIGHTS:
        for task_id in ids[name]:
            rec = await redis_storage.get(task_id)
            if rec is not None and rec.finished_at is not None:
                finished.append((rec.finished_at, name))
    order = [name for _, name in sorted(finished)][:400]
    # during the first 400 completions every queue still had work (none had all of its 400 done)
    assert len(order) == 400 and all(order.count(q) < 400 for q in WEIGHTS)
    print("weighted process shares:", {q: round(v, 3) for q, v in shares_of(order).items()})
    assert close_to_weights(shares_of(order)), shares_of(order)
