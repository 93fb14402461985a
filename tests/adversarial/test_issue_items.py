"""Regression tests for the numbered items of issue 10 (only those written by the deadline; the
rest are listed in the report). Real workers and a private redis-server (tests/adversarial/scene.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from gdw_core.errors import InvalidPayload, InvalidTask
from tests.adversarial.scene import TASKS, Scene

GOOD = f"{TASKS}:good"


def _deep(levels: int) -> list[object]:
    value: list[object] = [1]
    for _ in range(levels):
        value = [value]
    return value


async def test_item_02_deep_argument_is_refused_at_submit_and_nothing_enqueued(scene: Scene) -> None:
    with pytest.raises((InvalidPayload, InvalidTask)):
        await scene.producer.submit(GOOD, _deep(970))
    assert sum((await scene.storage.counts()).values()) == 0


async def test_item_05_huge_argument_is_refused_at_submit_and_nothing_enqueued(scene: Scene) -> None:
    with pytest.raises((InvalidPayload, InvalidTask)):
        await scene.producer.submit(GOOD, "x" * (50 * 1024 * 1024))
    assert sum((await scene.storage.counts()).values()) == 0


async def test_item_11_pause_of_unknown_queue_is_refused_and_creates_nothing(scene: Scene) -> None:
    res = scene.gdw("pause", "nosuchqueue")
    assert res.code != 0, res.out
    assert b"nosuchqueue" not in await scene.raw.smembers("gdw:{gdw}:g:queues")


async def test_item_11_duplicate_id_at_submit_is_reported(scene: Scene) -> None:
    first = scene.gdw("submit", GOOD, "--id", "dup", "--args", "[1]")
    assert first.code == 0, first.err
    again = scene.gdw("submit", GOOD, "--id", "dup", "--args", "[2]")
    assert again.code != 0, again.out
    rec = await scene.storage.get("dup")
    assert rec is not None and rec.args == [1]


def test_item_13_non_redis_endpoint_is_a_connection_error_in_one_line(scene: Scene) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        res = scene.gdw("stats", url=f"127.0.0.1:{port}")
    finally:
        server.close()
    assert res.code == 3, (res.code, res.err)
    assert len(res.err.strip().splitlines()) == 1, res.err
