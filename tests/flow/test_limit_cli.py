"""``gdw limit set|ls|rm`` and ``gdw status`` of a throttled task, against a real redis-server."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from gdw_core import TaskQueue, TaskStatus
from gdw_core.cli.app import app
from gdw_core.storage.redis import RedisStorage

pytestmark = pytest.mark.redis


def gdw(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_set_ls_rm_round_trip(runner: CliRunner, redis_url: str) -> None:
    code, out, _ = gdw(runner, "limit", "set", "stripe", "--rate", "100/m", "--burst", "10", "--concurrency", "5",
                       "--redis", redis_url)  # fmt: skip
    assert code == 0 and "limit stripe set: rate 100/m (burst 10), concurrency 5" in out
    code, out, _ = gdw(runner, "limit", "ls", "--redis", redis_url)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("stripe"))
    assert row.split()[:5] == ["stripe", "100/m", "10", "0/5", "0"]
    code, out, _ = gdw(runner, "limit", "ls", "--json", "--redis", redis_url)
    doc = json.loads(out)
    assert doc["limits"][0]["spec"] == {"name": "stripe", "rate": "100/m", "burst": 10, "concurrency": 5}
    code, out, _ = gdw(runner, "limit", "rm", "stripe", "--redis", redis_url)
    assert code == 0 and "removed" in out
    code, _, err = gdw(runner, "limit", "rm", "stripe", "--redis", redis_url)
    assert code != 0 and "no limit named 'stripe'" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rate", "ten per second"], "cannot be read"),
        (["--rate", "0/s"], "allows nothing"),
        (["--rate", "5/fortnight"], "unknown unit 'fortnight'"),
        (["--concurrency", "-1"], "concurrency must be at least 1"),
        (["--rate", "5/s", "--burst", "0"], "burst must be at least 1"),
        ([], "needs a rate, a concurrency or both"),
    ],
)
def test_bad_input_is_one_clear_line_and_nothing_is_written(
    runner: CliRunner, redis_url: str, args: list[str], says: str
) -> None:
    code, out, err = gdw(runner, "limit", "set", "api", *args, "--redis", redis_url)
    assert code == 2, (out, err)
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, out, _ = gdw(runner, "limit", "ls", "--json", "--redis", redis_url)
    assert json.loads(out) == {"limits": []}


def test_status_says_which_limit_holds_a_task_and_until_when(runner: CliRunner, redis_url: str) -> None:
    async def scene() -> str:
        storage = RedisStorage.from_url(redis_url)
        producer = TaskQueue(worker_count=0, storage=storage)
        await producer.limits.set("api", rate="1/h")
        first = await producer.options(limits=["api"]).submit("demo_tasks:fast")
        second = await producer.options(limits=["api"]).submit("demo_tasks:fast")
        leases = await storage.claim("w1", ["default"], 2, 30.0, 0.1)
        assert [x.task.id for x in leases] == [first]
        assert (await storage.get(second)).status is TaskStatus.THROTTLED  # type: ignore[union-attr]
        await storage.close()
        return second

    task_id = asyncio.run(scene())
    code, out, _ = gdw(runner, "status", task_id, "--redis", redis_url)
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith("throttled"))
    assert "limit api: rate 1/h until" in line and ("(in 1:00:00)" in line or "(in 0:59:5" in line), line


def test_worker_refuses_a_bad_weight_in_one_line(runner: CliRunner, redis_url: str) -> None:
    code, _, err = gdw(runner, "worker", "demo_tasks", "--queues", "high:0,low", "--redis", redis_url)
    assert code == 2 and "--queues" in err and "weight" in err and len(err.strip().splitlines()) == 1


def test_ls_shows_throttled_tasks(runner: CliRunner, redis_url: str) -> None:
    async def scene() -> str:
        storage = RedisStorage.from_url(redis_url)
        producer = TaskQueue(worker_count=0, storage=storage)
        await producer.limits.set("one", concurrency=1)
        ids = [await producer.options(limits=["one"]).submit("demo_tasks:fast") for _ in range(2)]
        await storage.claim("w1", ["default"], 2, 30.0, 0.1)
        await storage.close()
        return ids[1]

    waiting = asyncio.run(scene())
    code, out, _ = gdw(runner, "ls", "--json", "--redis", redis_url)
    assert code == 0
    doc = json.loads(out)
    rows = doc["tasks"] if isinstance(doc, dict) else doc
    assert any(r["id"] == waiting and r["status"] == "throttled" for r in rows), doc
