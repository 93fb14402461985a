"""Issue 10 on the CLI side, against a real redis-server: what it refuses, and that what it shows is
true (dead workers, unreadable records, a port that is not Redis)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from gdw_core import WorkerInfo
from gdw_core.cli.app import app
from gdw_core.storage.redis import RedisStorage


def gdw(runner: CliRunner, url: str, *argv: str) -> Any:
    return runner.invoke(app, [*argv, "--redis", url])


def doc(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("gdw: error:")]


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


# -- item 11: pausing an unknown queue; an id that exists ----------------------------------------------
def test_issue10_item11_pause_unknown_queue_is_refused(runner: CliRunner, redis_url: str) -> None:
    result = gdw(runner, redis_url, "pause", "nosuchqueue")
    assert result.exit_code == 4, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no queue named 'nosuchqueue'" in result.stderr and "--create" in result.stderr
    assert gdw(runner, redis_url, "resume", "nosuchqueue").exit_code == 4
    names = {q["name"] for q in doc(gdw(runner, redis_url, "stats", "--json"))["queues"]}
    assert "nosuchqueue" not in names  # no phantom queue
    assert doc(gdw(runner, redis_url, "pause", "later", "--create", "--json")) == {"queue": "later", "paused": True}
    assert {q["name"]: q["paused"] for q in doc(gdw(runner, redis_url, "stats", "--json"))["queues"]}["later"]
    assert doc(gdw(runner, redis_url, "resume", "later", "--json")) == {"queue": "later", "paused": False}
    bad = gdw(runner, redis_url, "pause", "br{ace}s", "--create")
    assert bad.exit_code == 2 and "queue name" in bad.stderr


def test_pause_a_queue_that_has_tasks(runner: CliRunner, redis_url: str) -> None:
    doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "--queue", "images", "--json"))
    assert doc(gdw(runner, redis_url, "pause", "images", "--json")) == {"queue": "images", "paused": True}


def test_issue10_item11_submit_an_existing_id(runner: CliRunner, redis_url: str) -> None:
    doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "1", "--id", "X", "--json"))
    again = gdw(runner, redis_url, "submit", "demo_tasks:fast", "2", "--id", "X")
    assert again.exit_code == 6, again.output
    assert len(errors(again)) == 1 and "'X' already exists (pending)" in errors(again)[0]
    kept = gdw(runner, redis_url, "submit", "demo_tasks:fast", "3", "--id", "X", "--if-exists", "skip", "--json")
    assert doc(kept)["submitted"]["args"] == [1]  # the existing task, untouched
    assert doc(gdw(runner, redis_url, "status", "X", "--json"))["args"] == [1]
    assert gdw(runner, redis_url, "submit", "demo_tasks:fast", "--id", "X", "--if-exists", "nope").exit_code == 2


# -- items 2 and 5: deep and huge arguments ----------------------------------------------------------
def _keys(url: str) -> int:
    with client(url) as c:
        return int(c.dbsize())


def test_issue10_item2_deep_argument_refused_by_submit(runner: CliRunner, redis_url: str) -> None:
    for depth in (970, 100_000):
        deep = "[" * depth + "]" * depth
        result = gdw(runner, redis_url, "submit", "demo_tasks:fast", "--args", f"[{deep}]")
        assert result.exit_code == 2, result.output
        assert len(errors(result)) == 1 and "nested" in errors(result)[0]
    assert _keys(redis_url) == 0


def test_issue10_item5_huge_argument_refused_by_submit(runner: CliRunner, redis_url: str) -> None:
    result = gdw(runner, redis_url, "submit", "demo_tasks:fast", "x" * 600_000)
    assert result.exit_code == 2, result.output
    assert len(errors(result)) == 1 and "over the limit of 524,288 bytes" in errors(result)[0]
    assert _keys(redis_url) == 0


@pytest.mark.parametrize(
    ("argv", "word"),
    [(["--id", "a b"], "--id"), (["--id", "x\ny"], "--id"), (["--queue", "br{ace}s"], "--queue"),
     (["--every", "5m", "--id", "a@b"], "--id")],
)  # fmt: skip
def test_bad_ids_and_queue_names_are_usage_errors(
    runner: CliRunner, redis_url: str, argv: list[str], word: str
) -> None:
    result = gdw(runner, redis_url, "submit", "demo_tasks:fast", *argv)
    assert result.exit_code == 2, result.output
    assert len(errors(result)) == 1 and word in errors(result)[0]
    assert _keys(redis_url) == 0


# -- item 7: dead workers -----------------------------------------------------------------------------
def _beat(url: str, *infos: WorkerInfo, held: dict[str, int] | None = None) -> None:
    async def go() -> None:
        storage = RedisStorage.from_url(url)
        await storage.open()
        try:
            for info in infos:
                await storage.heartbeat(info, held or {}, 30.0)
        finally:
            await storage.close()

    asyncio.run(go())


def test_issue10_item7_a_dead_worker_is_shown_dead_and_not_counted(runner: CliRunner, redis_url: str) -> None:
    live = WorkerInfo("w-live", "h1", 1, ["default"], 6, busy=2, claimed=3)
    dead = WorkerInfo("w-dead", "h2", 2, ["default"], 6, busy=6, held=["t-held-1", "t-held-2"])
    _beat(redis_url, live, dead)
    with client(redis_url) as c:  # its heartbeat went stale a minute ago (kill -9)
        now = float(c.time()[0])
        c.zadd("gdw:{gdw}:g:workers", {"w-dead": now - 60})
    listed = doc(gdw(runner, redis_url, "workers", "--json"))
    assert {w["id"]: w["state"] for w in listed["workers"]} == {"w-live": "running", "w-dead": "dead"}
    assert listed["live"] == 1
    stats = doc(gdw(runner, redis_url, "stats", "--json"))
    assert (stats["workers"], stats["dead_workers"], stats["busy"], stats["slots"], stats["claimed"]) == (1, 1, 2, 6, 3)
    human = gdw(runner, redis_url, "workers").stdout
    assert re.search(r"worker w-dead is dead \(last seen 01:0\d ago\); it held 2 task\(s\): t-held-1, t-held-2", human)
    assert "1 live worker(s)" in human
    line = gdw(runner, redis_url, "stats").stdout
    assert "1 live worker(s), 2/6 slots busy (33%), 3 claimed ahead; 1 dead" in line


# -- bad records never crash the CLI ------------------------------------------------------------------
BAD_HASHES: dict[str, dict[str, str]] = {
    "bad-json": {"d": "{not json", "st": "pending"},
    "bad-deep": {"d": '{"name":"m:f","args":' + "[" * 5000 + "]" * 5000 + "}", "st": "pending"},
    "bad-utf8": {"d": '{"name":"m:f","args":["\udcff"]}', "st": "pending"},
    "bad-fields": {"d": '{"name":"m:f","args":[]}', "st": "pending", "att": "many", "cr": "yesterday"},
    "bad-\x1b[31mred": {"d": "[]", "st": "pending"},
}


def _inject(url: str) -> None:
    with redis.Redis.from_url(url) as c:
        for task_id, fields in BAD_HASHES.items():
            key = f"gdw:{{default}}:t:{task_id}".encode("utf-8", "surrogateescape")
            c.hset(key, mapping={k: v.encode("utf-8", "surrogateescape") for k, v in fields.items()})
            c.zadd("gdw:{default}:p", {task_id.encode(): 0})


def test_unreadable_records_are_shown_as_such_and_the_cli_exits_0(runner: CliRunner, redis_url: str) -> None:
    good = [
        doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", str(i), "--json"))["submitted"]["id"] for i in range(3)
    ]
    _inject(redis_url)
    listed = gdw(runner, redis_url, "ls")
    assert listed.exit_code == 0, listed.output
    assert all(task_id in listed.stdout for task_id in good)
    assert listed.stdout.count("unreadable record") >= 3
    assert "\x1b" not in listed.stdout and "bad-\\x1b[31mred" in listed.stdout
    as_json = doc(gdw(runner, redis_url, "ls", "--json"))["tasks"]
    assert {t["id"] for t in as_json} >= set(good)
    assert sum(1 for t in as_json if "unreadable" in t) >= 3
    for task_id in ("bad-json", "bad-deep", "bad-fields"):
        shown = gdw(runner, redis_url, "status", task_id)
        assert shown.exit_code == 0, shown.output
        assert "unreadable" in shown.stdout
        assert gdw(runner, redis_url, "status", task_id, "--json").exit_code == 0
    for argv in (["stats"], ["stats", "--json"], ["workers"], ["recurring", "ls"]):
        assert gdw(runner, redis_url, *argv).exit_code == 0, argv


def test_unreadable_recurring_and_worker_records_do_not_stop_the_views(runner: CliRunner, redis_url: str) -> None:
    doc(gdw(runner, redis_url, "submit", "demo_tasks:heartbeat", "--every", "5m", "--id", "hb", "--json"))
    _beat(redis_url, WorkerInfo("w-ok", "h", 1, ["default"], 2))
    with client(redis_url) as c:
        c.hset("gdw:{default}:rec", "broken", "{not json")
        c.zadd("gdw:{gdw}:g:workers", {"w-broken": float(c.time()[0])})
        c.set("gdw:{gdw}:g:w:w-broken", "[1, 2")
    entries = gdw(runner, redis_url, "recurring", "ls")
    assert entries.exit_code == 0, entries.output
    assert "hb" in entries.stdout
    workers = gdw(runner, redis_url, "workers")
    assert workers.exit_code == 0, workers.output
    assert "w-ok" in workers.stdout


# -- item 13: a port that is not Redis ----------------------------------------------------------------
@pytest.fixture
def http_port() -> Iterator[int]:
    """A tiny TCP server that answers every connection like an HTTP server would."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


COMMANDS = [
    ["stats"], ["ls"], ["workers"], ["status", "x"], ["recurring", "ls"], ["recurring", "rm", "x"],
    ["pause", "q"], ["resume", "q"], ["cancel", "x"], ["retry", "x"], ["shutdown"],
    ["submit", "demo_tasks:fast"], ["stats", "--json"],
]  # fmt: skip


def test_issue10_item13_a_port_that_is_not_redis_is_exit_3(runner: CliRunner, http_port: int) -> None:
    url = f"127.0.0.1:{http_port}"
    for argv in COMMANDS:
        result = runner.invoke(app, [*argv, "--redis", url])
        assert result.exit_code == 3, (argv, result.output)
        assert len(errors(result)) == 1 and url in errors(result)[0], (argv, result.stderr)
        assert "Traceback" not in result.output and "internal error" not in result.output


def test_issue10_item13_a_worker_pointed_at_a_port_that_is_not_redis_exits_3(http_port: int) -> None:
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    env.pop("GDW_REDIS_URL", None)
    url = f"127.0.0.1:{http_port}"
    done = subprocess.run(
        [sys.executable, "-m", "gdw_core.cli", "worker", "demo_tasks", "--redis", url],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("gdw: error:")]
    assert len(lines) == 1 and url in lines[0] and "Traceback" not in done.stderr
