"""Sentinel: every entry point takes redis+sentinel://, and a failover under load from two
``gdw worker`` processes loses nothing — workers and a producer find the new master themselves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis import sentinel as sentinel_module
from gdw_core.storage.redis.sentinel import Sentinels
from tests.prod.deployment import SERVICE, SentinelGroup, spawn_gdw_worker, start_sentinel, stop
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.prod, pytest.mark.redis, pytest.mark.slow]
S = TaskStatus


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    g = SentinelGroup(tmp_path / "sentinel")
    g.tmp.mkdir()
    g.start()
    yield g
    g.stop()


async def completed(storage: RedisStorage) -> int:
    while True:
        try:
            return (await storage.counts())[S.COMPLETED]
        except Exception:
            await asyncio.sleep(0.05)


def fail_over(group: SentinelGroup, how: str) -> int:
    old = group.master_port()
    if how == "command":
        assert group.sentinel_cli("sentinel", "failover", SERVICE) == "OK"
    else:  # the master dies: the sentinels agree it is down (1s) and promote the replica
        victim = next(s for s in group.servers() if s.port == old)
        assert victim.proc is not None
        victim.proc.kill()
    return old


@pytest.mark.parametrize("how", ["command", "kill"])
async def test_failover_under_load_loses_nothing(group: SentinelGroup, task_dir: Path, how: str) -> None:
    storage = RedisStorage.from_url(group.url)
    producer = TaskQueue(worker_count=0, storage=storage)
    await producer.open_storage()
    first = await producer.submit_many("prod_tasks:sleepy", [(0.02,) for _ in range(300)])
    workers = [
        spawn_gdw_worker(task_dir, "--redis", group.url, "-c", "4", "--lease", "3s", log_name=f"w{i}") for i in range(2)
    ]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await completed(storage) < 40:
            assert loop.time() < deadline, "workers did not start"
            await asyncio.sleep(0.05)
        switched_at = time.monotonic()
        old = fail_over(group, how)
        while group.master_port() == old:
            assert time.monotonic() - switched_at < 60, "sentinel did not fail over"
            await asyncio.sleep(0.05)
        # The old master still answers as a master until the sentinels demote it (about 10 s
        # after a planned failover), and Redis drops every write it took meanwhile. The producer
        # follows the sentinels' announcement of the switch (gdw_core.storage.redis.sentinel):
        # once it has heard it, nothing it submits goes to the old master. (Writes between the
        # promotion and the announcement are lost to any client: min-replicas-to-write closes that.)
        assert storage.switches is not None
        while storage.switches.switches == 0:
            assert time.monotonic() - switched_at < 5, "the producer did not hear the switch"
            await asyncio.sleep(0.01)
        print(f"\nthe producer heard the switch {time.monotonic() - switched_at:.2f}s after the failover began")
        # the producer reconnects by itself: submitting again works on the new master
        second: list[str] = []
        while not second:
            try:
                second = await producer.submit_many("prod_tasks:quick", [(i,) for i in range(100)])
            except Exception:
                await asyncio.sleep(0.05)
        base = await completed(storage)
        while await completed(storage) <= base:  # workers complete tasks on the new master
            assert time.monotonic() - switched_at < 90, "workers did not come back"
            await asyncio.sleep(0.02)
        recovered_after = time.monotonic() - switched_at
        everything = [*first, *second]
        deadline = loop.time() + 120
        while True:
            statuses = [(await producer.status(t)).status for t in everything]
            if all(s is S.COMPLETED for s in statuses):
                break
            assert loop.time() < deadline, {s: statuses.count(s) for s in set(statuses)}
            await asyncio.sleep(0.2)
        assert [await producer.result(t) for t in second] == [i * 2 for i in range(100)]
        assert all(w.poll() is None for w in workers), "a worker died in the failover"
        print(f"\nSentinel failover ({how}): first completion on the new master after {recovered_after:.2f}s")
    finally:
        for w in workers:
            stop(w)
        await producer.shutdown()
        logs = "".join((task_dir / f"w{i}.log").read_text() for i in range(2))
        assert "Traceback" not in logs, logs[-3000:]


async def test_a_dropped_connection_reconnects_to_the_new_master(group: SentinelGroup) -> None:
    """A master connection that was dropped and is used again (what a command's retries do)
    reconnects to the master the sentinels name now. redis-py's own Sentinel connection (8.1)
    reconnects it to its last address, the dead master."""
    storage = RedisStorage.from_url(group.url)
    await storage.open()
    pool = storage.client.inner.connection_pool
    conn = await pool.get_connection()
    try:
        old = group.master_port()
        assert conn.port == old
        fail_over(group, "kill")
        deadline = time.monotonic() + 60
        while group.master_port() in (old, 0):
            assert time.monotonic() < deadline, "sentinel did not fail over"
            await asyncio.sleep(0.05)
        await conn.disconnect()
        await conn.send_command("PING")  # reconnects on its own, as inside a retry
        assert await conn.read_response() in ("PONG", b"PONG", True)
        assert conn.port == group.master_port() != old
    finally:
        await pool.release(conn)
        await storage.close()


async def test_a_planned_failover_loses_no_submit(group: SentinelGroup) -> None:
    """A producer submitting all through a planned failover. The old master keeps taking writes
    for about 10 s after the promotion and Redis drops them when it resyncs as a replica; without
    the listener every submit of those seconds was lost (618 of 625 in a run of this scenario with
    the listener stopped). The producer holds its commands from the leader's last word before
    the promotion until the switch is announced, then follows it: a submit that began once it had
    heard either is never lost, and in the runs made none was lost at all."""
    storage = RedisStorage.from_url(group.url)
    producer = TaskQueue(worker_count=0, storage=storage)
    await producer.open_storage()
    listener = storage.switches
    assert listener is not None
    deadline = time.monotonic() + 10
    while len(listener.subscribed) < 3:  # the listeners are up before the failover
        assert time.monotonic() < deadline, "the failover listeners did not subscribe"
        await asyncio.sleep(0.02)
    old = group.master_port()
    demoted = next(srv for srv in group.servers() if srv.port == old)
    made: list[tuple[str, bool]] = []  # (task id, whether the producer had heard of the failover)
    refused = 0
    try:
        started = time.monotonic()
        assert group.sentinel_cli("sentinel", "failover", SERVICE) == "OK"
        i = 0
        while (demoted.cli("role").split() or ["?"])[0] != "slave":  # until the old master stops taking writes
            assert time.monotonic() - started < 60, "the old master was not demoted"
            heard = bool(listener.holds or listener.switches)
            try:
                await producer.options(task_id=f"s-{i}").submit("m:f", i)
                made.append((f"s-{i}", heard))
            except Exception:
                refused += 1
            i += 1
            await asyncio.sleep(0.01)
        assert listener.holds >= 1 and listener.switches >= 1, (listener.holds, listener.switches)
        after = [tid for tid, heard in made if heard]
        assert len(after) >= 50, f"the failover was heard too late to matter: {len(after)} of {len(made)} submits"
        kept = {tid for tid, _ in made if await _exists(producer, tid)}
        lost_after = [tid for tid in after if tid not in kept]
        assert not lost_after, f"{len(lost_after)} of {len(after)} submits made after the failover was heard were lost"
        lost = len(made) - len(kept)
        print(f"\nplanned failover: {len(made)} submits acknowledged ({refused} refused), {lost} lost")
    finally:
        await producer.shutdown()


async def test_held_commands_go_on_when_a_failover_is_given_up_or_takes_too_long(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold is bounded: a failover given up (an abort message) or one that never ends
    (HOLD_LIMIT) lets the held commands go on to the master they had; an event about another
    service holds nothing."""
    monkeypatch.setattr(sentinel_module, "HOLD_LIMIT", 0.5)
    storage = RedisStorage.from_url(group.url)
    await storage.open()
    listener = storage.switches
    assert listener is not None
    promoting = f"slave 127.0.0.1:1 127.0.0.1 1 @ {SERVICE} 127.0.0.1 {group.master_port()}"
    try:
        await listener.heard(sentinel_module.PROMOTING, promoting.replace(SERVICE, "another"))
        assert listener.gate.is_set() and listener.holds == 0
        await storage.client.set("k", "1")

        await listener.heard(sentinel_module.PROMOTING, promoting)
        held = asyncio.ensure_future(storage.client.set("k", "2"))
        await asyncio.sleep(0.2)
        assert not held.done() and listener.holds == 1
        await listener.heard("-failover-abort-no-good-slave", f"master {SERVICE} 127.0.0.1 {group.master_port()}")
        assert await asyncio.wait_for(held, 5)

        await listener.heard(sentinel_module.PROMOTING, promoting)
        t0 = time.monotonic()
        assert await asyncio.wait_for(storage.client.set("k", "3"), 5)
        assert time.monotonic() - t0 >= 0.4, "held until HOLD_LIMIT, then sent"
        assert await storage.client.get("k") == "3"
    finally:
        await storage.close()


async def _exists(queue: TaskQueue, task_id: str) -> bool:
    try:
        await queue.status(task_id)
    except Exception:
        return False
    return True


async def test_the_sentinel_with_the_newest_configuration_names_the_master(group: SentinelGroup) -> None:
    """A sentinel that has not heard of a failover (here: a lone one watching another server under
    the same name, at configuration epoch 0) is asked first; the master chosen is the one the
    sentinels of the highest epoch name, not the first answer (redis-py's discover_master)."""
    other = RedisServer().start()
    lone = start_sentinel(group.tmp, "lone", other.port, quorum=1)
    try:
        old = group.master_port()
        assert group.sentinel_cli("sentinel", "failover", SERVICE) == "OK"
        deadline = time.monotonic() + 30
        while group.master_port() in (old, 0):
            assert time.monotonic() < deadline, "sentinel did not fail over"
            await asyncio.sleep(0.05)
        new = group.master_port()
        hosts = [("127.0.0.1", lone[0]), *(("127.0.0.1", port) for port, _ in group.sentinels)]
        manager = Sentinels(hosts, sentinel_kwargs={"decode_responses": True, "socket_timeout": 5})
        try:
            deadline = time.monotonic() + 10
            while True:  # the lone sentinel answers once it has looked at its server
                try:
                    first = await manager.sentinels[0].sentinel_master(SERVICE)
                    if first.get("is_master") and not first.get("is_sdown"):
                        break
                except Exception:
                    pass
                assert time.monotonic() < deadline, "the lone sentinel did not come up"
                await asyncio.sleep(0.1)
            assert int(first["port"]) == other.port and int(first["config-epoch"]) == 0
            for _ in range(5):
                assert await manager.discover_master(SERVICE) == ("127.0.0.1", new)
        finally:
            await manager.aclose()
        url = "redis+sentinel://" + ",".join(f"{h}:{p}" for h, p in hosts) + f"/{SERVICE}/0"
        storage = RedisStorage.from_url(url)
        await storage.open()
        try:
            await storage.client.set("probe", "here")
            assert other.cli("get", "probe") == ""
            assert next(s for s in group.servers() if s.port == new).cli("get", "probe") == "here"
        finally:
            await storage.close()
    finally:
        lone[1].terminate()
        lone[1].wait(10)
        other.stop()


async def test_a_sentinel_user_that_cannot_listen_is_warned_about_and_the_documented_one_listens(
    group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis 7 gives a new ACL user no channel: a sentinel user made without one cannot listen to
    the failover events. gdw says so once, naming what a planned failover may cost, and works. A
    user with the rules docs/deployment.md gives (SENTINEL_USER_RULES) listens, with no warning."""
    for i in range(3):
        assert group.sentinel_cli("acl", "setuser", "app", "on", ">pw", "+@all", "resetchannels", index=i) == "OK"
    hosts = ",".join(f"127.0.0.1:{port}" for port, _ in group.sentinels)
    storage = RedisStorage.from_url(f"redis+sentinel://{hosts}/{SERVICE}/0?sentinel_username=app&sentinel_password=pw")
    with caplog.at_level("WARNING", logger="gdw.redis"):
        await storage.open()
        try:
            await storage.client.set("k", "v")
            deadline = time.monotonic() + 10
            while not any("listen to its failover events" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no warning"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the listeners try again meanwhile: still one warning
            warnings = [r for r in caplog.records if "listen to its failover events" in r.getMessage()]
            assert len(warnings) == 1 and "no permissions" in warnings[0].getMessage()
            assert "pw" not in warnings[0].getMessage()
            assert await storage.client.get("k") == "v"
        finally:
            await storage.close()
    # the sentinel user of docs/deployment.md can find the master and listen: no warning
    caplog.clear()
    for i in range(3):
        rules = SENTINEL_USER_RULES.split()
        assert group.sentinel_cli("acl", "setuser", "watcher", "on", ">pw", *rules, index=i) == "OK"
    storage = RedisStorage.from_url(
        f"redis+sentinel://{hosts}/{SERVICE}/0?sentinel_username=watcher&sentinel_password=pw"
    )
    with caplog.at_level("DEBUG", logger="gdw.redis"):
        await storage.open()
        try:
            assert storage.switches is not None
            deadline = time.monotonic() + 10
            while len(storage.switches.subscribed) < 3:
                assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
                await asyncio.sleep(0.05)
            await storage.client.set("k", "w")
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records
        finally:
            await storage.close()


#: the sentinel user's rules in docs/deployment.md (the test keeps them true)
SENTINEL_USER_RULES = (
    "resetchannels &+switch-master &+failover-* &-failover-abort-* -@all +auth +hello +ping "
    "+subscribe +sentinel|master +sentinel|get-master-addr-by-name"
)
