"""``gdw submit A --then B --then C`` starts a chain from the shell; ``--after ID`` waits for a
task; conflicts and unknown ids get one clear error and nothing is submitted."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from gdw_core import TaskQueue, TaskStatus
from gdw_core.cli.app import app
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

S = TaskStatus
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


async def records(url: str, ids: list[str]) -> list[tuple[str, TaskStatus, list[str], list[object]]]:
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        out = []
        for i in ids:
            rec = await storage.get(i)
            assert rec is not None
            out.append((rec.name, rec.status, rec.parents, rec.args))
        return out
    finally:
        await storage.close()


async def total(url: str) -> int:
    q = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
    await q.open_storage()
    try:
        return sum((await q.storage.counts()).values())
    finally:
        await q.shutdown()


def test_then_submits_a_chain(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    runner = CliRunner()
    argv = ["submit", "demo_tasks:fast", "7", "--then", "demo_tasks:fast", "--then", "demo_tasks:sleepy"]
    out = runner.invoke(app, [*argv, "--json", "--redis", redis_server.url], env=ENV)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{") :])
    ids = doc["ids"]
    assert doc["names"] == ["demo_tasks:fast", "demo_tasks:fast", "demo_tasks:sleepy"]
    got = asyncio.run(records(redis_server.url, ids))
    assert got[0] == ("demo_tasks:fast", S.PENDING, [], [7])
    assert got[1] == ("demo_tasks:fast", S.BLOCKED, [ids[0]], [])
    assert got[2] == ("demo_tasks:sleepy", S.BLOCKED, [ids[1]], [])


def test_after_waits_for_a_task_and_bad_input_submits_nothing(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    runner = CliRunner()
    out = runner.invoke(app, ["submit", "demo_tasks:fast", "--id", "first", "--redis", redis_server.url], env=ENV)
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        app, ["submit", "demo_tasks:fast", "--id", "second", "--after", "first", "--redis", redis_server.url], env=ENV
    )
    assert out.exit_code == 0, out.output
    assert "blocked" in out.output
    out = runner.invoke(app, ["submit", "demo_tasks:fast", "--after", "nope", "--redis", redis_server.url], env=ENV)
    assert out.exit_code == 2 and "nope" in out.output and "does not exist" in out.output
    out = runner.invoke(
        app,
        ["submit", "demo_tasks:fast", "--in", "5s", "--then", "demo_tasks:fast", "--redis", redis_server.url],
        env=ENV,
    )
    assert out.exit_code == 2 and "--then and --in conflict" in out.output
    assert asyncio.run(total(redis_server.url)) == 2
