"""Dashboard reads (gdw_core.views) on every backend: filtered pages resume by cursor and look at a
bounded window, errors group by type and normalised message, wait times come from started tasks,
a task's timeline comes from storage."""

from __future__ import annotations

import uuid

from gdw_core import AttemptError, Inspector, TaskRecord, TaskStatus, views
from gdw_core.storage.protocol import Ack, Mark, Start, Storage

S = TaskStatus
W = "worker-a"


def rec(name: str, queue: str = "default") -> TaskRecord:
    return TaskRecord(id=uuid.uuid4().hex, name=name, queue=queue)


async def fail_all(storage: Storage, n: int, kind: str, message: str, queue: str = "default") -> list[str]:
    rs = [rec("demo:flaky", queue) for _ in range(n)]
    await storage.enqueue(rs)
    now = await storage.now()
    for lease in await storage.claim(W, [queue], n, 30.0, 0.5):
        e = AttemptError(1, kind, message.format(lease.task.id[:12]), "tb", now, W)
        assert await storage.fail(lease.task.id, lease.token, e, None) is S.FAILED
    return [r.id for r in rs]


async def test_filter_by_name_and_queue_pages_by_cursor(storage: Storage) -> None:
    wanted = [rec("demo:wanted", "q1") for _ in range(7)]
    noise = [rec("demo:other", "q1") for _ in range(5)] + [rec("demo:wanted", "q2") for _ in range(4)]
    await storage.enqueue(wanted[:3] + noise[:5] + wanted[3:] + noise[5:])
    insp = Inspector(storage)
    flt = views.TaskFilter(name="WANTED", queue="q1")
    seen: list[str] = []
    cursor: Mark | None = None  # the start; a page's cursor is a position (score, id), None at the end
    pages = 0
    while pages == 0 or cursor is not None:
        page = await insp.filtered(S.PENDING, flt, limit=3, cursor=cursor)
        seen += [t.id for t in page.tasks]
        assert all(t.name == "demo:wanted" and t.queue == "q1" for t in page.tasks)
        cursor = page.cursor
        pages += 1
        assert pages < 10, "cursor must move on"
    assert sorted(seen) == sorted(r.id for r in wanted) and len(seen) == len(set(seen))


async def test_filter_scans_a_bounded_window(storage: Storage, monkeypatch: object) -> None:
    import pytest

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.setattr(views, "SCAN_MAX", 10)
    mp.setattr(views, "CHUNK", 4)
    await storage.enqueue([rec("demo:none") for _ in range(25)] + [rec("demo:needle")])
    found: list[str] = []
    cursor: Mark | None = None
    calls = 0
    while calls == 0 or cursor is not None:
        page = await views.filtered_page(storage, S.PENDING, views.TaskFilter(name="needle"), 5, cursor)
        assert page.scanned <= 10
        found += [t.name for t in page.tasks]
        cursor = page.cursor
        calls += 1
    assert found == ["demo:needle"] and calls == 3  # 26 entries, 10 a call


async def test_filter_by_error_text(storage: Storage) -> None:
    ids = await fail_all(storage, 3, "TimeoutError", "took too long")
    await fail_all(storage, 2, "ValueError", "bad input")
    page = await Inspector(storage).filtered(S.FAILED, views.TaskFilter(error="timeout"))
    assert sorted(t.id for t in page.tasks) == sorted(ids) and page.cursor is None


async def test_error_groups_fold_ids_and_numbers(storage: Storage) -> None:
    await fail_all(storage, 4, "DemoFailure", "task {} failed after 3 tries")
    await fail_all(storage, 1, "KeyError", "missing 'x'")
    groups = await Inspector(storage).error_groups()
    assert [(g.type, g.count) for g in groups] == [("DemoFailure", 4), ("KeyError", 1)]
    assert groups[0].message == "task <id> failed after N tries"
    assert groups[0].first_seen <= groups[0].last_seen
    page = await Inspector(storage).filtered(S.FAILED, groups[0].filter)
    assert len(page.tasks) == 4


async def test_error_groups_leave_out_old_failures(storage: Storage) -> None:
    await fail_all(storage, 2, "Old", "x")
    assert await views.error_groups(storage, await storage.now() + 3600) == []


async def test_wait_stats_from_started_tasks(storage: Storage) -> None:
    rs = [rec("demo:w", "qw") for _ in range(5)]
    await storage.enqueue(rs)
    leases = await storage.claim(W, ["qw"], 5, 30.0, 0.5)
    assert await storage.start([Start(lz.task.id, lz.token) for lz in leases]) == [True] * 5
    assert await storage.complete([Ack(lz.task.id, lz.token) for lz in leases[:2]]) == [True] * 2
    stats = await Inspector(storage).wait_stats("qw")
    assert stats.sample == 5 and 0.0 <= stats.p50 <= stats.p99
    assert (await Inspector(storage).wait_stats("empty")).sample == 0


async def test_timeline_from_storage(storage: Storage) -> None:
    r = rec("demo:t")
    await storage.enqueue([r])
    lease = (await storage.claim(W, ["default"], 1, 30.0, 0.5))[0]
    await storage.start([Start(r.id, lease.token)])
    now = await storage.now()
    await storage.fail(r.id, lease.token, AttemptError(1, "Boom", "b", "tb", now, W), None)
    entries = await Inspector(storage).timeline(r.id)
    whats = [e.what for e in entries]
    assert whats[0] == "created" and whats[-1] == "finished" and "attempt failed" in whats
    assert entries[-1].status == "failed"
    assert [e.at for e in entries] == sorted(e.at for e in entries)


async def test_one_odd_error_groups_alone_and_the_rest_still_count(storage: Storage) -> None:
    await fail_all(storage, 3, "DemoFailure", "task {} failed")
    await fail_all(storage, 1, "Weird\x1b[31m", "\x00" + "9" * 5000 + " \u202e")
    groups = await Inspector(storage).error_groups()
    by_type = {g.type: g for g in groups}
    assert by_type["DemoFailure"].count == 3
    assert by_type["Weird\x1b[31m"].count == 1 and len(by_type["Weird\x1b[31m"].message) <= 200


def test_filter_text_parses_only_known_words() -> None:
    assert views.TaskFilter.parse("plain words") is None
    assert views.TaskFilter.parse("name: queue:q1 bogus:x error:Timeout") == views.TaskFilter(None, "q1", "Timeout")
