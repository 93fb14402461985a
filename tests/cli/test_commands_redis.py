"""Commands against a real redis-server, with no worker running: what they store and print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from gdw_core.cli.app import app
from tests.cli.conftest import free_port, own_redis


def gdw(runner: CliRunner, url: str, *argv: str) -> Any:
    return runner.invoke(app, [*argv, "--redis", url])


def doc(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def keys(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.dbsize())
    finally:
        client.close()


def test_submit_without_workers_warns_and_enqueues(runner: CliRunner, redis_url: str) -> None:
    result = gdw(runner, redis_url, "submit", "demo_tasks:resize", "photo.jpg", "800", "--json")
    submitted = doc(result)["submitted"]
    assert "no worker is running to register 'demo_tasks:resize'; it will wait on queue 'default'" in result.stderr
    assert submitted["name"] == "demo_tasks:resize"
    assert submitted["args"] == ["photo.jpg", 800]
    assert submitted["status"] == "pending"
    status = doc(gdw(runner, redis_url, "status", submitted["id"], "--json"))
    assert status["id"] == submitted["id"] and status["status"] == "pending"
    listed = doc(gdw(runner, redis_url, "ls", "--json"))["tasks"]
    assert [t["id"] for t in listed] == [submitted["id"]]


def test_submit_options_reach_the_record(runner: CliRunner, redis_url: str) -> None:
    argv = ["submit", "demo_tasks:sleepy", "--kw", "max_seconds:=2", "--kw", "note=hi", "--queue", "slow"]
    argv += ["--priority", "7", "--timeout", "1m", "--retries", "5", "--backoff", "linear", "--id", "job-1", "--json"]
    rec = doc(gdw(runner, redis_url, *argv))["submitted"]
    assert rec["id"] == "job-1"
    assert rec["kwargs"] == {"max_seconds": 2, "note": "hi"}
    assert (rec["queue"], rec["priority"], rec["timeout"], rec["max_retries"]) == ("slow", 7, 60.0, 5)
    assert rec["retry"]["strategy"] == "linear"
    # the same id again does not make a second task: it is refused (exit 6), or kept with --if-exists skip
    again = gdw(runner, redis_url, "submit", "demo_tasks:sleepy", "--kw", "note=other", "--id", "job-1")
    assert again.exit_code == 6, again.output
    errors = [line for line in again.stderr.splitlines() if line.startswith("gdw: error:")]
    assert len(errors) == 1 and "'job-1' already exists (pending); nothing was submitted" in errors[0]
    kept = doc(gdw(runner, redis_url, *argv, "--if-exists", "skip"))["submitted"]
    assert kept["id"] == "job-1" and kept["kwargs"] == {"max_seconds": 2, "note": "hi"}
    assert len(doc(gdw(runner, redis_url, "ls", "--queue", "slow", "--json"))["tasks"]) == 1


def test_human_output(runner: CliRunner, redis_url: str) -> None:
    result = gdw(runner, redis_url, "submit", "demo_tasks:fast", "1", "--id", "t-human")
    assert result.exit_code == 0
    assert "submitted t-human (demo_tasks:fast) to queue default: pending" in result.stdout
    status = gdw(runner, redis_url, "status", "t-human")
    assert "demo_tasks:fast(1)" in status.stdout and "pending" in status.stdout
    assert "t-human" in gdw(runner, redis_url, "ls").stdout


def test_strict_refuses_unknown_names_and_enqueues_nothing(runner: CliRunner, redis_url: str) -> None:
    result = gdw(runner, redis_url, "submit", "demo_tasks:fast", "--strict")
    assert result.exit_code == 4
    assert "--strict" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert doc(gdw(runner, redis_url, "ls", "--json"))["tasks"] == []


def test_bad_input_enqueues_nothing(runner: CliRunner, redis_url: str) -> None:
    for argv in (["--kw", "a:={"], ["--in", "later"], ["--cron", "nope"], ["--at", "2001-01-01T00:00:00Z"]):
        assert gdw(runner, redis_url, "submit", "demo_tasks:fast", *argv).exit_code == 2
    assert keys(redis_url) == 0


def test_scheduled_task_and_retry_now(runner: CliRunner, redis_url: str) -> None:
    rec = doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "--in", "1h", "--json"))["submitted"]
    assert rec["status"] == "scheduled"
    assert rec["run_at"] > rec["created_at"] + 3000
    assert doc(gdw(runner, redis_url, "retry", rec["id"], "--json"))["status"] == "pending"
    again = gdw(runner, redis_url, "retry", rec["id"])
    assert again.exit_code == 1 and "it is pending" in again.stderr


def test_at_time(runner: CliRunner, redis_url: str) -> None:
    rec = doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "--at", "2999-01-01T00:00:00+01:00", "--json"))
    assert rec["submitted"]["status"] == "scheduled"
    assert rec["submitted"]["run_at"] == pytest.approx(32472140400.0)


def test_cancel(runner: CliRunner, redis_url: str) -> None:
    task_id = doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "--json"))["submitted"]["id"]
    assert gdw(runner, redis_url, "cancel", task_id).exit_code == 0
    assert doc(gdw(runner, redis_url, "status", task_id, "--json"))["status"] == "cancelled"
    again = gdw(runner, redis_url, "cancel", task_id)
    assert again.exit_code == 1


def test_not_found(runner: CliRunner, redis_url: str) -> None:
    for argv in (["status", "nope"], ["cancel", "nope"], ["retry", "nope"], ["recurring", "rm", "nope"]):
        result = gdw(runner, redis_url, *argv)
        assert result.exit_code == 4, (argv, result.output)
        assert "nope" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert gdw(runner, redis_url, "shutdown", "--worker", "w-nope").exit_code == 4


def test_recurring(runner: CliRunner, redis_url: str) -> None:
    made = doc(gdw(runner, redis_url, "submit", "demo_tasks:heartbeat", "--every", "5m", "--id", "hb", "--json"))
    assert made["recurring"]["id"] == "hb"
    doc(gdw(runner, redis_url, "submit", "demo_tasks:heartbeat", "--cron", "*/5 * * * *", "--id", "hb2", "--json"))
    entries = doc(gdw(runner, redis_url, "recurring", "ls", "--json"))["recurring"]
    assert {(e["id"], e["interval"], e["cron"]) for e in entries} == {("hb", 300.0, None), ("hb2", None, "*/5 * * * *")}
    assert "every 300s" in gdw(runner, redis_url, "recurring", "ls").stdout
    assert gdw(runner, redis_url, "recurring", "rm", "hb").exit_code == 0
    assert [e["id"] for e in doc(gdw(runner, redis_url, "recurring", "ls", "--json"))["recurring"]] == ["hb2"]


def test_pause_resume_stats_workers(runner: CliRunner, redis_url: str) -> None:
    doc(gdw(runner, redis_url, "submit", "demo_tasks:fast", "--queue", "q1", "--json"))
    assert doc(gdw(runner, redis_url, "pause", "q1", "--json")) == {"queue": "q1", "paused": True}
    stats = doc(gdw(runner, redis_url, "stats", "--json"))
    assert stats["counts"]["pending"] == 1
    assert {q["name"]: q["paused"] for q in stats["queues"]}.get("q1") is True
    assert "(paused)" in gdw(runner, redis_url, "stats").stdout
    assert doc(gdw(runner, redis_url, "resume", "q1", "--json")) == {"queue": "q1", "paused": False}
    assert doc(gdw(runner, redis_url, "workers", "--json")) == {"workers": [], "live": 0}


def test_unreachable_redis_says_where_without_password(runner: CliRunner) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    for argv in (["stats"], ["submit", "demo_tasks:fast"], ["ls"], ["status", "x"]):
        result = runner.invoke(app, [*argv, "--redis", url])
        assert result.exit_code == 3, result.output
        assert "hunter2" not in result.output
        assert "127.0.0.1" in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_password_is_exit_3(runner: CliRunner) -> None:
    with own_redis(password="right-one") as server:
        host = f"127.0.0.1:{server.port}/0"
        url = f"redis://{host}"
        wrong = runner.invoke(app, ["stats", "--redis", f"redis://:wrong-one@{host}"])
        assert wrong.exit_code == 3, wrong.output
        assert "wrong-one" not in wrong.output and len(wrong.stderr.strip().splitlines()) == 1
        missing = runner.invoke(app, ["stats", "--redis", url])
        assert missing.exit_code == 3, missing.output
        right = runner.invoke(app, ["stats", "--json", "--redis", f"redis://:right-one@{host}"])
        assert right.exit_code == 0, right.output


def test_redis_url_from_environment(runner: CliRunner, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDW_REDIS_URL", redis_url)
    assert runner.invoke(app, ["stats", "--json"]).exit_code == 0
    host_port = redis_url.removeprefix("redis://").removesuffix("/0")
    assert runner.invoke(app, ["stats", "--json", "--redis", host_port]).exit_code == 0


def test_acl_denial_is_exit_3(runner: CliRunner) -> None:
    with own_redis(password="admin-pw") as server:
        host = f"127.0.0.1:{server.port}/0"
        assert server.cli("ACL", "SETUSER", "bob", "on", ">bob-pw", "~nothing:*", "-@all") == "OK"
        result = runner.invoke(app, ["stats", "--redis", f"redis://bob:bob-pw@{host}"])
        assert result.exit_code == 3, result.output
        assert "bob-pw" not in result.output and "refused" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unix_socket(runner: CliRunner, tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    with own_redis("--unixsocket", str(sock)):
        url = f"unix://{sock}"
        submitted = doc(runner.invoke(app, ["submit", "demo_tasks:fast", "--json", "--redis", url]))["submitted"]
        assert doc(runner.invoke(app, ["status", submitted["id"], "--json", "--redis", f"{url}?db=0"]))["id"]


def test_no_colour_codes_when_not_a_terminal(
    runner: CliRunner, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    gdw(runner, redis_url, "submit", "demo_tasks:fast", "--id", "plain")
    for argv in (["stats"], ["ls"], ["status", "plain"], ["recurring", "ls"], ["workers"]):
        result = gdw(runner, redis_url, *argv)
        assert result.exit_code == 0
        assert "\x1b" not in result.output


def test_submit_warns_when_live_workers_on_the_queue_lack_the_name(runner: CliRunner, redis_url: str) -> None:
    import asyncio

    from gdw_core import WorkerInfo
    from gdw_core.storage.redis import RedisStorage

    async def advertise() -> None:
        storage = RedisStorage.from_url(redis_url)
        await storage.open()
        try:
            await storage.heartbeat(WorkerInfo("w1", "h", 1, ["default"], 2, tasks=["demo_tasks:fast"]), {}, 30.0)
        finally:
            await storage.close()

    asyncio.run(advertise())
    result = gdw(runner, redis_url, "submit", "demo_tasks:resize", "x", "--json")
    assert "live workers on queue 'default' have not registered 'demo_tasks:resize'" in result.stderr
    assert "fail it as an unknown task" in result.stderr
    other = gdw(runner, redis_url, "submit", "demo_tasks:resize", "x", "--queue", "emails", "--json")
    assert "no live worker has registered 'demo_tasks:resize'; it will wait on queue 'emails'" in other.stderr
    strict = gdw(runner, redis_url, "submit", "demo_tasks:resize", "x", "--strict")
    assert strict.exit_code == 4
