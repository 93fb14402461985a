"""Limit definitions and names: bad input is one clear error at the call, nothing enqueued."""

from __future__ import annotations

import pytest

from gdw_core import TaskQueue, TaskStatus
from gdw_core.errors import InvalidTask
from gdw_core.flow import InvalidLimit, LimitSpec, Rate, family_of, parse_rate
from gdw_core.flow.rate import InvalidRate
from gdw_core.registry import task


@pytest.mark.parametrize(
    ("text", "rate"),
    [("100/m", Rate(100, 60.0)), ("20/s", Rate(20, 1.0)), ("5/10s", Rate(5, 10.0)), (" 3 / hour ", Rate(3, 3600.0))],
)
def test_rates_read_as_written(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ten per second", "cannot be read"),
        ("0/s", "allows nothing"),
        ("5/fortnight", "unknown unit 'fortnight'"),
        ("", "cannot be read"),
        ("5/0s", "empty period"),
        (5, "got int"),
    ],
)
def test_bad_rates_say_why(text: object, says: str) -> None:
    with pytest.raises(InvalidRate, match=says):
        parse_rate(text)


def test_a_rate_prints_as_it_is_written() -> None:
    assert [str(parse_rate(t)) for t in ("100/m", "20/s", "5/10s", "2/d")] == ["100/m", "20/s", "5/10s", "2/d"]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"concurrency": -1}, "concurrency must be at least 1"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"rate": "5/s", "burst": 0}, "burst must be at least 1"),
        ({}, "needs a rate, a concurrency or both"),
        ({"concurrency": True}, "whole number"),
        ({"concurrency": 2, "burst": 5}, "a burst needs a rate"),
    ],
)
def test_bad_definitions_say_why(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidLimit, match=says):
        LimitSpec.build("api", **kwargs)  # type: ignore[arg-type]


def test_the_stored_form_round_trips_and_garbage_is_refused() -> None:
    spec = LimitSpec.build("stripe", "100/m", 10, 5)
    assert LimitSpec.from_fields("stripe", spec.to_fields()) == spec
    with pytest.raises(InvalidLimit, match="malformed in storage"):
        LimitSpec.from_fields("stripe", {"n": "many", "per": "60"})


def test_a_per_key_name_has_a_family() -> None:
    assert family_of("customer:42") == "customer"
    assert family_of("a:b:c") == "a:b"
    assert family_of("stripe") is None


async def test_bad_limits_at_submit_enqueue_nothing() -> None:
    q = TaskQueue(worker_count=0)

    async def job() -> None:
        return None

    for bad in (["has space"], ["{braces}"], "stripe", [""], [f"l{i}" for i in range(9)]):
        with pytest.raises(InvalidTask):
            await q.options(limits=bad).submit(job)  # type: ignore[arg-type]
    with pytest.raises(InvalidLimit):
        await q.limits.set("api", rate="ten per second")
    assert sum((await q.storage.counts()).values()) == 0
    assert await q.limits.list() == []


def test_task_shorthands_are_checked_when_decorating() -> None:
    with pytest.raises(InvalidRate):
        task(rate="5/fortnight")
    with pytest.raises(InvalidTask, match="concurrency"):
        task(concurrency=-2)
    with pytest.raises(InvalidLimit):
        task(limits=["no spaces please"])


async def test_task_side_limits_and_shorthands_reach_the_record_and_the_storage() -> None:
    @task(name="tests.flow:pay", limits=["stripe"], rate="20/s", concurrency=2)
    async def pay() -> None:
        return None

    q = TaskQueue(worker_count=0, tasks=[pay])
    task_id = await q.options(limits=["customer:42"]).submit(pay)
    rec = await q.status(task_id)
    assert rec.limits == ["stripe", "tests.flow:pay", "customer:42"] and rec.status is TaskStatus.PENDING
    await q.start()  # a queue that starts writes the limits its tasks declare
    try:
        (own,) = await q.limits.list()
        assert own.spec == LimitSpec("tests.flow:pay", Rate(20, 1.0), 1, 2)
    finally:
        await q.shutdown()


async def test_expires_in_the_past_or_before_the_task_is_due_enqueues_nothing() -> None:
    from datetime import UTC, datetime, timedelta

    from gdw_core.errors import InvalidSchedule

    q = TaskQueue(worker_count=0)

    async def job() -> None:
        return None

    for bad in (0, -5, timedelta(seconds=-1), float("nan"), "soon", datetime(2020, 1, 1)):
        with pytest.raises(InvalidSchedule):
            await q.options(expires=bad).submit(job)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match="in the past"):
        await q.options(expires=datetime(2020, 1, 1, tzinfo=UTC)).submit(job)
    with pytest.raises(InvalidSchedule, match="before it is due"):
        await q.options(expires=10).schedule(job, 60)
    with pytest.raises(InvalidSchedule, match="recurring"):
        await q.options(expires=10).schedule_recurring(job, interval=60)
    assert sum((await q.storage.counts()).values()) == 0
    task_id = await q.options(expires=timedelta(minutes=5)).submit(job)
    rec = await q.status(task_id)
    assert rec.expires_at is not None and rec.expires_at - rec.created_at == pytest.approx(300, abs=1)


async def test_result_ttl_from_the_task_and_the_call() -> None:
    from datetime import timedelta

    from gdw_core.errors import InvalidSchedule

    @task(name="tests.flow:report", result_ttl=timedelta(minutes=1))
    async def report() -> None:
        return None

    q = TaskQueue(worker_count=0, tasks=[report])
    assert (await q.status(await q.submit(report))).result_ttl == 60.0
    assert (await q.status(await q.options(result_ttl=5).submit(report))).result_ttl == 5.0
    for bad in (0, -1, "1m"):
        with pytest.raises(InvalidSchedule):
            q.options(result_ttl=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule):
        task(result_ttl=-5)


def test_the_memory_limiter_forgets_quiet_keys() -> None:
    from gdw_core.flow.limiter import MemoryLimiter

    limiter = MemoryLimiter({})
    limiter.set(LimitSpec.build("customer", "10/s"))
    for i in range(10_050):  # 10,050 keys, each quiet again 0.1 s after its one start
        assert limiter.admit(f"t{i}", [f"customer:{i}"], now=float(i) * 0.0001) is None
    assert len(limiter._tat) < 2_000  # the quiet ones were forgotten once the state grew past 10,000
