"""``gdw worker --metrics-port``: a real worker process on a real redis-server, its /metrics parsed
with prometheus-client's own parser, /healthz, and /readyz following Redis going away and back."""

from __future__ import annotations

import asyncio
import os
import re
import select
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.prod.deployment import ROOT, spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.prod, pytest.mark.redis]

METRIC_TASKS = '''
"""Tasks whose outcomes the metrics test counts."""
from gdw_core import task
from gdw_core.retry import RetryPolicy


@task(retry=RetryPolicy(max_retries=0))
def boom(n):
    raise ValueError(f"boom {n}")


@task(retry=RetryPolicy(max_retries=1, base_delay=0.0, max_delay=0.0))
def flaky(n):
    """Fails its first attempt, completes its second (the attempt number is in the marker file)."""
    import pathlib
    marker = pathlib.Path(f"flaky-{n}.seen")
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError(f"first attempt of {n}")
    return n
'''

DONE = (TaskStatus.COMPLETED, TaskStatus.FAILED)
#: the worker's storage operations that can fail (the label values of gdw_storage_errors_total)
OPERATIONS = {
    "claim", "start", "complete", "fail", "release", "cancel_running", "heartbeat", "maintenance",
    "scheduler", "commands", "worker_beat", "register", "progress", "recover", "promote", "remove_worker",
}  # fmt: skip


def http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        return 0, str(exc)


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    code, text = http(port, "/metrics")
    assert code == 200, text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(seen: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return seen.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(check, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def wait_final(queue: TaskQueue, ids: list[str], timeout: float = 90) -> dict[str, TaskStatus]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        states = {i: (await queue.status(i)).status for i in ids}
        if all(s in DONE for s in states.values()):
            return states
        assert loop.time() < deadline, states
        await asyncio.sleep(0.1)


@pytest.fixture
def metric_dir(task_dir: Path) -> Path:
    (task_dir / "metric_tasks.py").write_text(METRIC_TASKS)
    return task_dir


async def test_counters_and_histograms_move_by_exactly_the_tasks_run(
    redis_server: RedisServer, metric_dir: Path
) -> None:
    redis_server.cli("flushall")
    port = free_port()
    worker = spawn_gdw_worker(
        metric_dir, "metric_tasks", "--redis", redis_server.url, "--metrics-port", str(port), "-c", "4"
    )
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url))
    try:
        await until(lambda: http(port, "/healthz")[0] == 200)
        before = samples(port)
        ok = [await producer.submit("prod_tasks:quick", i) for i in range(7)]
        bad = [await producer.submit("metric_tasks:boom", i) for i in range(3)]
        flaky = [await producer.submit("metric_tasks:flaky", i) for i in range(2)]
        states = await wait_final(producer, ok + bad + flaky)
        assert [states[i] for i in bad] == [TaskStatus.FAILED] * 3
        assert all(states[i] is TaskStatus.COMPLETED for i in ok + flaky)
        after = samples(port)

        def moved(name: str, task: str) -> float:
            labels = {"task": task, "queue": "default"}
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("gdw_tasks_completed_total", "prod_tasks:quick") == 7
        assert moved("gdw_tasks_completed_total", "metric_tasks:flaky") == 2
        assert moved("gdw_tasks_failed_total", "metric_tasks:boom") == 3
        assert moved("gdw_tasks_retried_total", "metric_tasks:flaky") == 2
        assert moved("gdw_tasks_retried_total", "prod_tasks:quick") == 0
        assert moved("gdw_tasks_failed_total", "prod_tasks:quick") == 0
        # every attempt started once and was timed once: 7 + 3 + 2x2
        assert moved("gdw_tasks_started_total", "prod_tasks:quick") == 7
        assert moved("gdw_tasks_started_total", "metric_tasks:flaky") == 4
        assert moved("gdw_task_duration_seconds_count", "prod_tasks:quick") == 7
        assert moved("gdw_task_duration_seconds_count", "metric_tasks:boom") == 3
        assert moved("gdw_task_duration_seconds_count", "metric_tasks:flaky") == 4
        assert moved("gdw_task_queue_wait_seconds_count", "prod_tasks:quick") == 7
        assert value(after, "gdw_tasks_in_flight") == 0
        # the +Inf bucket holds every observation
        inf = value(after, "gdw_task_duration_seconds_bucket", task="prod_tasks:quick", queue="default", le="+Inf")
        assert inf == value(after, "gdw_task_duration_seconds_count", task="prod_tasks:quick", queue="default")
    finally:
        stop(worker)
        await producer.shutdown()


async def test_a_task_name_the_worker_does_not_know_is_one_label(redis_server: RedisServer, metric_dir: Path) -> None:
    """Garbage names in storage cannot grow the label set: each counts as <unregistered>."""
    redis_server.cli("flushall")
    port = free_port()
    worker = spawn_gdw_worker(metric_dir, "--redis", redis_server.url, "--metrics-port", str(port))
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url))
    try:
        await until(lambda: http(port, "/healthz")[0] == 200)
        ghosts = [await producer.submit(f"nowhere:ghost{i}") for i in range(3)]
        good = await producer.submit("prod_tasks:quick", 1)
        states = await wait_final(producer, [*ghosts, good])
        assert states[good] is TaskStatus.COMPLETED
        assert all(states[g] is TaskStatus.FAILED for g in ghosts)
        seen = samples(port)
        assert value(seen, "gdw_tasks_completed_total", task="prod_tasks:quick", queue="default") == 1
        names = {dict(labels).get("task") for (name, labels) in seen if name == "gdw_tasks_failed_total"}
        assert names == {"<unregistered>"}
        assert value(seen, "gdw_tasks_failed_total", task="<unregistered>", queue="default") == 3
        assert value(seen, "gdw_tasks_in_flight") == 0  # a name it lacks never started: not in flight
    finally:
        stop(worker)
        await producer.shutdown()


def restart_on(server: RedisServer, port: int) -> subprocess.Popen[bytes]:
    """redis-server again on the port the worker knows."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(server.dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc


async def test_readyz_follows_redis_and_healthz_does_not(task_dir: Path) -> None:
    server = RedisServer().start()
    port = free_port()
    worker = spawn_gdw_worker(task_dir, "--redis", server.url, "--metrics-port", str(port))
    again: subprocess.Popen[bytes] | None = None
    try:
        await until(lambda: http(port, "/readyz")[0] == 200)
        assert http(port, "/healthz") == (200, "ok\n")
        assert not [k for k in samples(port) if k[0] == "gdw_storage_errors_total"]  # none yet
        assert http(port, "/nope")[0] == 404
        redis_port = server.port
        server.stop(cleanup=False)
        await until(lambda: http(port, "/readyz")[0] == 503)
        # the outage is counted: the worker's claims (at least) failed, by operation
        await until(lambda: any(k[0] == "gdw_storage_errors_total" for k in samples(port)))
        code, body = http(port, "/readyz")
        assert code == 503 and body.startswith("not ready"), body
        assert http(port, "/healthz")[0] == 200  # alive, just not ready
        assert worker.poll() is None
        errors_during = sum(v for (name, _), v in samples(port).items() if name == "gdw_storage_errors_total")
        again = restart_on(server, redis_port)
        await until(lambda: http(port, "/readyz")[0] == 200)
        seen = samples(port)
        operations = {dict(k[1])["operation"] for k in seen if k[0] == "gdw_storage_errors_total"}
        assert "claim" in operations and operations <= OPERATIONS, operations
        assert errors_during > 0
        producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(f"redis://127.0.0.1:{redis_port}/0"))
        try:  # and it works again
            task_id = await producer.submit("prod_tasks:quick", 4)
            states = await wait_final(producer, [task_id])
            assert states[task_id] is TaskStatus.COMPLETED
        finally:
            await producer.shutdown()
    finally:
        stop(worker)
        if again is not None:
            again.terminate()
            again.wait(10)
        server.stop()


async def test_gdw_metrics_serves_queue_depths_once_per_deployment(redis_server: RedisServer, task_dir: Path) -> None:
    redis_server.cli("flushall")
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env["PYTHONPATH"] = str(ROOT)
    log = open(task_dir / "metrics.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdw_core.cli", "metrics", "--port", str(port), "--redis", redis_server.url],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for i in range(3):
            await producer.options(queue="alpha").submit("prod_tasks:quick", i)
        await producer.options(queue="beta").submit("prod_tasks:quick", 9)
        await until(lambda: http(port, "/readyz")[0] == 200)
        seen = samples(port)
        assert value(seen, "gdw_queue_tasks", queue="alpha", state="pending") == 3
        assert value(seen, "gdw_queue_tasks", queue="beta", state="pending") == 1
        assert value(seen, "gdw_queue_paused", queue="alpha") == 0
        await producer.options(queue="beta").submit("prod_tasks:quick", 10)
        assert value(samples(port), "gdw_queue_tasks", queue="beta", state="pending") == 2  # read per scrape
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        await producer.shutdown()


async def test_garbage_requests_get_an_error_and_the_endpoint_keeps_serving() -> None:
    from prometheus_client import CollectorRegistry

    from gdw_core.endpoint import Endpoint

    endpoint = Endpoint(CollectorRegistry(), host="127.0.0.1", port=0, timeout=2)
    await endpoint.start()
    try:
        replies = []
        for raw in (b"\x00\xff garbage\r\n\r\n", b"POST /metrics HTTP/1.0\r\n\r\n", b"\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
            writer.write(raw)
            await writer.drain()
            replies.append((await reader.read()).split(b"\r\n", 1)[0])
            writer.close()
        assert replies == [b"HTTP/1.0 405 Method Not Allowed"] * 3, replies
        # a client that connects and says nothing does not block the next one
        _, silent = await asyncio.open_connection("127.0.0.1", endpoint.port)
        code, body = await asyncio.to_thread(http, endpoint.port, "/healthz")
        assert (code, body) == (200, "ok\n")
        silent.close()
    finally:
        await endpoint.stop()


async def test_lease_recoveries_and_interruptions_are_counted(redis_server: RedisServer, task_dir: Path) -> None:
    """A worker killed with two tasks: the survivor recovers both leases (counted), runs them, and
    an operator cancels them while they run (counted as interrupted, outcome cancelled)."""
    redis_server.cli("flushall")
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url))
    doomed = spawn_gdw_worker(task_dir, "--redis", redis_server.url, "-c", "2", "--lease", "2s", log_name="doomed")
    survivor: subprocess.Popen[bytes] | None = None
    try:
        ids = [await producer.submit("prod_tasks:sleepy", 60) for _ in range(2)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while [(await producer.status(i)).status for i in ids] != [TaskStatus.RUNNING] * 2:
            assert loop.time() < deadline, "the tasks did not start"
            await asyncio.sleep(0.05)
        doomed.kill()
        doomed.wait()
        port = free_port()
        survivor = spawn_gdw_worker(
            task_dir, "--redis", redis_server.url, "-c", "2", "--lease", "2s", "--metrics-port", str(port)
        )
        await until(
            lambda: (
                value(samples(port), "gdw_lease_recoveries_total") == 2 if http(port, "/healthz")[0] == 200 else False
            )
        )
        task = {"task": "prod_tasks:sleepy", "queue": "default"}
        await until(lambda: value(samples(port), "gdw_tasks_started_total", **task) == 2)
        for i in ids:
            await producer.cancel(i)
        await until(lambda: value(samples(port), "gdw_tasks_interrupted_total", **task, outcome="cancelled") == 2)
        seen = samples(port)
        assert value(seen, "gdw_lease_recoveries_total") == 2
        assert value(seen, "gdw_tasks_in_flight") == 0
        assert value(seen, "gdw_tasks_failed_total", **task) == 0
        assert [(await producer.status(i)).status for i in ids] == [TaskStatus.CANCELLED] * 2
    finally:
        stop(doomed)
        if survivor is not None:
            stop(survivor)
        await producer.shutdown()


def commands_served(server: RedisServer) -> int:
    """Commands Redis ran since the last CONFIG RESETSTAT, not counting these INFO / CONFIG calls."""
    total = 0
    for line in server.cli("info", "commandstats").splitlines():
        name, _, rest = line.partition(":")
        if not name.startswith("cmdstat_") or name in ("cmdstat_info", "cmdstat_config|resetstat"):
            continue
        total += int(rest.split(",")[0].removeprefix("calls="))
    return total


async def test_a_scrape_costs_the_same_whatever_the_number_of_tasks(task_dir: Path) -> None:
    """``gdw metrics``: the commands one scrape makes Redis run, with 100 tasks and with 10,000."""
    server = RedisServer().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdw_core.cli", "metrics", "--port", str(port), "--redis", server.url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url))
    costs: dict[int, int] = {}
    try:
        await until(lambda: http(port, "/readyz")[0] == 200)
        total = 0
        for target in (100, 10_000):
            while total < target:
                n = min(1000, target - total)
                half = n // 2
                await producer.options(queue="alpha").submit_many("prod_tasks:quick", [(i,) for i in range(half)])
                await producer.options(queue="beta").submit_many("prod_tasks:quick", [(i,) for i in range(n - half)])
                total += n
            samples(port)  # warm: the queue list is cached, the first scrape reads it
            server.cli("config", "resetstat")
            seen = samples(port)
            costs[target] = commands_served(server)
            depth = value(seen, "gdw_queue_tasks", queue="alpha", state="pending")
            depth += value(seen, "gdw_queue_tasks", queue="beta", state="pending")
            assert depth == target
    finally:
        proc.terminate()
        proc.wait(20)
        await producer.shutdown()
        server.stop()
    assert costs[100] == costs[10_000], costs
    assert costs[100] <= 30, costs  # a handful of commands per queue, nothing per task
    print(f"\none scrape of gdw metrics: {costs} Redis commands (2 queues)")


def test_gdw_metrics_says_where_it_listens(redis_server: RedisServer) -> None:
    """Started with --port 0, it names the port it got (and not the URL's password)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env["PYTHONPATH"] = str(ROOT)
    url = redis_server.url.replace("redis://", "redis://:s3cret@")  # (a password this server does not ask for)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdw_core.cli", "metrics", "--port", "0", "--host", "127.0.0.1", "--redis", url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 20)
        line = proc.stderr.readline() if ready else "(nothing said in 20 s)"
        found = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", line)
        assert found, line
        assert "s3cret" not in line
        assert http(int(found.group(1)), "/healthz")[0] == 200
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
