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


async def test_an_evalsha_sent_before_the_fast_lane_opened_is_loaded_and_run(redis_server: RedisServer) -> None:
    # a call sent through the client (EVALSHA: no fast lane yet) that meets NOSCRIPT while the fast
    # lane opens meanwhile must load the scripts, not only the library, or its retry fails again
    redis_server.cli("flushall")
    redis_server.cli("script", "flush")
    redis_server.cli("function", "flush")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    scripts = s._scripts
    lane = scripts.lane
    assert lane is not None and scripts.functions
    client = s.client
    first = True

    class LaneOpensMeanwhile:  # the real client; the lane comes back between the send and the retry
        def __getattr__(self, name: str) -> object:
            return getattr(client, name)

        async def evalsha(self, *args: object) -> object:
            nonlocal first
            if first:
                first = False
                scripts.lane = lane
            return await client.evalsha(*args)

    try:
        scripts.lane = None
        await scripts.run(LaneOpensMeanwhile(), s._call("pause", "default", "paused", "1"))
        assert not first  # the call went the EVALSHA way and met NOSCRIPT on a flushed server
        assert redis_server.cli("exists", "gdw:{default}:paused") == "1"  # and it ran
    finally:
        scripts.lane = lane
        await s.close()
