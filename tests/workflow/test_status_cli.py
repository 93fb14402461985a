"""``gdw status ID`` of a workflow node shows its parents, children and the workflow's progress;
``Inspector.workflow`` returns every node with its state, parents and children."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from gdw_core import TaskQueue, TaskStatus, chord, sig
from gdw_core.cli.app import app
from gdw_core.storage.protocol import Ack
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer
from tests.workflow import wf_tasks

S = TaskStatus


async def three_of_four_done(url: str) -> tuple[str, list[str], str]:
    """A chord of four whose members three completed; (workflow id, member ids, callback id)."""
    storage = RedisStorage.from_url(url)
    q = TaskQueue(worker_count=0, storage=storage, tasks=[wf_tasks])
    await q.open_storage()
    try:
        handle = await q.submit_workflow(chord([sig(wf_tasks.add, i) for i in range(4)], sig(wf_tasks.total)))
        members, cb = handle.ids[:4], handle.ids[4]
        assert list(members) == list(handle.ids[:4])
        for lease in await storage.claim("w", ["default"], 3, 30.0, 1.0):  # three of four complete
            assert await storage.complete([Ack(lease.task.id, lease.token, 1)]) == [True]
        view = await q.inspect.workflow(members[0])
        assert view.workflow == handle.id and (view.completed, view.total) == (3, 5)
        assert view.progress == "3/5"
        node = view.node(cb)
        assert node is not None and node.status is S.BLOCKED and list(node.parents) == list(members)
        assert [n.id for n in view.nodes][-1] == cb  # parents before children
    finally:
        await q.shutdown()
    return handle.id, list(members), cb


def test_status_shows_parents_children_and_progress(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    wf, members, cb = asyncio.run(three_of_four_done(redis_server.url))
    runner = CliRunner()
    out = runner.invoke(app, ["status", cb, "--redis", redis_server.url], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "blocked" in out.output
    assert f"{wf}: 3/5 completed" in out.output
    assert "parents" in out.output and members[0] in out.output
    assert "waiting for" in out.output and "1 parent(s)" in out.output
    out = runner.invoke(app, ["status", members[0], "--redis", redis_server.url, "--json"])
    doc = json.loads(out.output)
    assert doc["children"] == [cb]
    assert doc["workflow_progress"] == {"completed": 3, "total": 5, "truncated": False}
