"""The scripts as a Redis 7 function library (FCALL): loaded lazily, reloaded after a flush, and
EVALSHA for good where FCALL is refused (an ACL without +fcall), with the same results."""

from __future__ import annotations

import pytest

from gdw_core.record import TaskRecord
from gdw_core.storage.protocol import Ack
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def rec(task_id: str) -> TaskRecord:
    return TaskRecord(id=task_id, name="proc_tasks:quick", args=[1])


async def run_one(s: RedisStorage, task_id: str) -> None:
    assert await s.enqueue([rec(task_id)]) == [True]
    [lease] = await s.claim("w", ["default"], 1, 30, 0)
    assert await s.complete([Ack(task_id, lease.token, task_id)]) == [True]
    done = await s.get(task_id)
    assert done is not None and done.result == task_id


def calls(server: RedisServer, command: str) -> int:
    for line in server.cli("info", "commandstats").splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


async def test_scripts_run_as_functions_loaded_on_first_use_and_after_a_flush(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    redis_server.cli("function", "flush")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        await run_one(s, "f1")
        library = s._scripts.library.name
        assert library in redis_server.cli("function", "list")
        assert s._scripts.functions and calls(redis_server, "fcall") >= 3
        redis_server.cli("function", "flush")  # a restarted / flushed server: loaded again, nothing lost
        await run_one(s, "f2")
        assert library in redis_server.cli("function", "list")
    finally:
        await s.close()


async def test_a_user_without_fcall_falls_back_to_evalsha(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    redis_server.cli("function", "flush")
    rules = "resetkeys ~gdw:* -@all +@read +@write -@dangerous +evalsha +script|load +time +ping +hello +auth +select"
    assert redis_server.cli("acl", "setuser", "nofcall", "reset", "on", ">pw-nofcall", *rules.split()) == "OK"
    url = redis_server.url.replace("redis://", "redis://nofcall:pw-nofcall@")
    s = RedisStorage.from_url(url)
    await s.open()
    try:
        before = calls(redis_server, "evalsha")
        await run_one(s, "e1")
        assert not s._scripts.functions
        assert calls(redis_server, "evalsha") >= before + 3
        assert "gdw_" not in redis_server.cli("function", "list")
    finally:
        await s.close()
        redis_server.cli("acl", "deluser", "nofcall")
