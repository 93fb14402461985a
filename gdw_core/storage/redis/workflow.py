"""The Redis half of workflows: storing a workflow in one script (workflow_submit.lua) and reading
a node's workflow fields back. The fan-in itself runs inside the transition scripts
(``scripts/_workflow.lua``)."""

from __future__ import annotations

from collections.abc import Sequence

from gdw_core.codec import dumps
from gdw_core.errors import DuplicateTask
from gdw_core.record import TaskRecord
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.encoding import static_json
from gdw_core.workflow.errors import UnknownDependency, WorkflowError, check_unique


class RedisWorkflow(RedisBase):
    @guarded
    async def enqueue_workflow(self, records: Sequence[TaskRecord]) -> None:
        if not records:
            return
        check_unique(records)
        where = {r.id: r.queue for r in records}
        external: dict[str, str] = {}
        for r in records:
            for p in r.parents:
                if p in where or p in external:
                    continue
                queue = await self._locate(p)
                if queue is None:
                    raise UnknownDependency(p, r.id)
                external[p] = queue
        queues = set(where.values()) | set(external.values())
        if self.cluster and len(queues) > 1:
            raise WorkflowError(
                f"a workflow spans queues {', '.join(sorted(queues))}: on Redis Cluster each queue lives in "
                "its own slot, so its fan-in cannot be atomic; put its tasks in one queue. Nothing was enqueued"
            )
        for queue in sorted(queues):
            await self._register_queue(queue)
        nodes = []
        for r in records:
            parents = "".join(f"{where.get(p) or external[p]} {p};" for p in r.parents)
            nodes.append(
                [
                    r.id,
                    r.queue,
                    static_json(r),
                    r.name,
                    str(int(r.priority)),
                    str(int(r.max_retries)),
                    parents,
                    r.takes,
                    str(int(r.feeds)),
                    r.on_parent_failure,
                    r.workflow or "",
                    repr(float(r.created_at or 0.0)),
                ]
            )
        spec = dumps({"nodes": nodes, "ext": [[q, p] for p, q in external.items()]}, "workflow")
        reply = await self._run("workflow_submit", records[0].queue, "b", spec)
        if reply[0] == "exists":
            raise DuplicateTask(str(reply[1]), "exists")
        if reply[0] == "missing":
            dependent = next(r.id for r in records if reply[1] in r.parents)
            raise UnknownDependency(str(reply[1]), dependent)
        for r in records:
            self._remember(r.id, r.queue)
