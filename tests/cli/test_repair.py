"""``gdw repair`` end to end against a real redis-server: a queue whose pending index was
overwritten by hand is stuck; the dry run says what it would do and does nothing; the repair moves
the key aside and puts the tasks back; a real ``gdw worker --burst`` then completes every one; a
second repair has nothing to do. An unreadable record is listed and makes the exit code 1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from gdw_core import TaskRecord, TaskStatus, WorkerInfo
from gdw_core.cli import output
from gdw_core.cli.app import app
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.redis]

GDW = [sys.executable, "-m", "gdw_core.cli"]
PENDING = "gdw:{default}:p"


def gdw(runner: CliRunner, url: str, *argv: str) -> Any:
    return runner.invoke(app, ["repair", *argv, "--redis", url])


async def seed(url: str, n: int) -> list[str]:
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        records = [TaskRecord(id=f"r{i:03d}", name="demo_tasks:fast", args=[i]) for i in range(n)]
        await storage.enqueue(records)
        return [r.id for r in records]
    finally:
        await storage.close()


async def statuses(url: str, ids: list[str]) -> dict[str, TaskStatus]:
    storage = RedisStorage.from_url(url)
    await storage.open()
    try:
        out = {}
        for task_id in ids:
            got = await storage.get(task_id)
            assert got is not None, task_id
            out[task_id] = got.status
        return out
    finally:
        await storage.close()


def test_repair_of_an_overwritten_pending_index_end_to_end(
    runner: CliRunner, redis_url: str, redis_server: RedisServer
) -> None:
    ids = asyncio.run(seed(redis_url, 25))
    redis_server.cli("del", PENDING)
    redis_server.cli("set", PENDING, "written by hand")

    dry = gdw(runner, redis_url, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "its pending index (a string, not a sorted set) would be moved aside to gdw:{default}:quarantine:p:" in (
        dry.output
    )
    assert "25 task(s) would be put back in the index of their status: 25 pending" in dry.output
    assert "dry run: nothing changed" in dry.output
    assert redis_server.cli("type", PENDING) == "string"

    done = gdw(runner, redis_url)
    assert done.exit_code == 0, done.output
    assert "its pending index (a string, not a sorted set) moved aside to gdw:{default}:quarantine:p:" in done.output
    assert "repaired: 25 task(s) put back in their index; 1 key(s) moved aside, kept for forensics" in done.output
    assert redis_server.cli("type", PENDING) == "zset" and redis_server.cli("zcard", PENDING) == "25"

    again = gdw(runner, redis_url, "--json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.output)
    assert doc["changed"] is False and doc["dry_run"] is False
    assert [(q["queue"], q["records"], q["reindexed"]) for q in doc["queues"]] == [("default", 25, {})]

    worker = subprocess.run(
        [*GDW, "worker", "demo_tasks", "--burst", "--concurrency", "8", "--redis", redis_url],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert set(asyncio.run(statuses(redis_url, ids)).values()) == {TaskStatus.COMPLETED}


def test_an_unreadable_record_is_listed_and_exits_1(
    runner: CliRunner, redis_url: str, redis_server: RedisServer
) -> None:
    asyncio.run(seed(redis_url, 3))
    redis_server.cli("zadd", "gdw:{default}:f", "1", "r000")  # a stale entry: r000 is pending
    redis_server.cli("set", "gdw:{default}:t:junk", "x")
    got = gdw(runner, redis_url, "--queue", "default", "--queue", "nowhere")
    assert got.exit_code == 1, got.output
    assert "1 task(s) taken out of an index of another status: 1 failed" in got.output
    assert "1 record(s) cannot be read and are left as they are:" in got.output
    assert "junk: a string key, not a task hash" in got.output
    assert "queue 'nowhere': nothing to repair (0 task record(s) looked at)" in got.output
    assert "no queue named 'nowhere' is known" in got.stderr
    assert redis_server.cli("zscore", "gdw:{default}:f", "r000") == ""
    dry = gdw(runner, redis_url, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output  # a dry run reports; it did not fail to do anything
    [q] = json.loads(dry.output)["queues"]
    assert q["garbage"] == [{"id": "junk", "reason": "a string key, not a task hash"}] and q["garbage_count"] == 1


def test_fail_unreadable_fails_what_is_not_a_task_and_exits_0(
    runner: CliRunner, redis_url: str, redis_server: RedisServer
) -> None:
    asyncio.run(seed(redis_url, 2))
    redis_server.cli("set", "gdw:{default}:t:junk", "x")
    redis_server.cli("hset", "gdw:{default}:t:limbo", "st", "sideways", "n", "m:f")

    dry = gdw(runner, redis_url, "--fail-unreadable", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "2 record(s) that are not tasks would be failed, each saying why:" in dry.output
    assert redis_server.cli("type", "gdw:{default}:t:junk") == "string"

    got = gdw(runner, redis_url, "--fail-unreadable")
    assert got.exit_code == 0, got.output  # nothing is left unreadable
    assert "2 record(s) that are not tasks failed, each saying why:" in got.output
    assert "junk: a string key, not a task hash; moved to gdw:{default}:bad:junk" in got.output
    assert 'limbo: the record has an unknown status "sideways"' in got.output
    assert "repaired: 0 task(s) put back in their index, 2 record(s) that were not tasks failed" in got.output
    assert redis_server.cli("hget", "gdw:{default}:t:limbo", "st") == "failed"
    assert redis_server.cli("get", "gdw:{default}:bad:junk") == "x"
    again = gdw(runner, redis_url, "--fail-unreadable", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["changed"] is False


def test_a_bad_queue_name_is_a_usage_error(runner: CliRunner, redis_url: str) -> None:
    got = gdw(runner, redis_url, "--queue", "br{ace}s")
    assert got.exit_code == 2 and "--queue" in got.output


def test_a_failing_queue_line_names_the_repair() -> None:
    w = WorkerInfo("w1", "h", 1, ["images"], 4, failing={"images": "WRONGTYPE Operation against a key"})
    assert output.failing_queue_lines([w]) == [
        "worker w1: queue 'images': WRONGTYPE Operation against a key (gdw repair --queue images)"
    ]
