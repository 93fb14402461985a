"""Views of the whole system: ``workers`` and ``stats``."""

from __future__ import annotations

from typing import Any

from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run


def workers(json_out: Json = False, redis: Redis = None) -> None:
    """List the workers: host, pid, state, queues, busy slots, processed and failed counts."""
    url = resolve_url(redis)
    run(_workers(url, json_out), url)


async def _workers(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        found = await queue.inspect.workers()
        if json_out:
            output.print_json({"workers": [w.to_dict() for w in found]})
        elif not found:
            output.make_console(stderr=True).print("no workers", markup=False)
        else:
            output.make_console().print(output.workers_table(found, await queue.inspect.now()))
        return 0


def stats(json_out: Json = False, redis: Redis = None) -> None:
    """Task counts by state for every queue, paused queues, and worker utilization."""
    url = resolve_url(redis)
    run(_stats(url, json_out), url)


async def _stats(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        queues = await queue.inspect.queues()
        totals = {str(k): v for k, v in (await queue.inspect.counts()).items()}
        util = await queue.inspect.utilization()
        live = [w for w in await queue.inspect.workers() if w.state != "stopped"]
        doc: dict[str, Any] = {
            "counts": totals,
            "queues": [
                {"name": q.name, "paused": q.paused, "counts": dict(q.counts), "oldest_pending_at": q.oldest_pending_at}
                for q in queues
            ],
            "workers": len(live),
            "busy": util.busy,
            "slots": util.total,
            "utilization": round(util.ratio, 4),
        }
        if json_out:
            output.print_json(doc)
            return 0
        rows = {q.name: dict(q.counts) for q in queues}
        rows["all queues"] = totals
        console = output.make_console()
        console.print(output.counts_table(rows, {q.name: q.paused for q in queues}))
        console.print(
            f"{len(live)} live worker(s), {util.busy}/{util.total} slots busy ({util.ratio:.0%})", markup=False
        )
        return 0
