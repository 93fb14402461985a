"""Views of the whole system: ``workers`` and ``stats``. Both count live workers the same way:
from :meth:`Inspector.workers`, whose state says ``dead`` for a stale heartbeat."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from gdw_core import lifecycle
from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run
from gdw_core.inspect import Inspector
from gdw_core.workerinfo import WorkerInfo, failing_queues

LIVE = ("running", "draining")


async def judged_workers(inspect: Inspector) -> tuple[list[WorkerInfo], float]:
    """Every worker record with its state judged on the storage's clock (stale heartbeat =>
    ``dead``), and that clock's now."""
    now = await inspect.now()
    found = []
    for w in await inspect.workers():
        state = lifecycle.worker_state(w, now)  # the inspector's own verdict, made sure of
        found.append(w if state == w.state else dataclasses.replace(w, state=state))
    return found, now


def live(workers: Sequence[WorkerInfo]) -> list[WorkerInfo]:
    return [w for w in workers if w.state in LIVE]


def workers(json_out: Json = False, redis: Redis = None) -> None:
    """List the workers: live, draining, stopped and dead ones (last seen, what they held)."""
    url = resolve_url(redis)
    run(_workers(url, json_out), url)


async def _workers(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        found, now = await judged_workers(queue.inspect)
        if json_out:
            output.print_json({"workers": [w.to_dict() for w in found], "live": len(live(found))})
        elif not found:
            output.make_console(stderr=True).print("no workers", markup=False)
        else:
            console = output.make_console()
            console.print(output.workers_table(found, now))
            for line in output.dead_worker_lines(found, now) + output.failing_queue_lines(found):
                console.print(line, markup=False)
            console.print(f"{len(live(found))} live worker(s)", markup=False)
        return 0


def stats(json_out: Json = False, redis: Redis = None) -> None:
    """Task counts by state for every queue, paused queues, and worker utilization."""
    url = resolve_url(redis)
    run(_stats(url, json_out), url)


async def _stats(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        queues = await queue.inspect.queues()
        totals = {str(k): v for k, v in (await queue.inspect.counts()).items()}
        found, _ = await judged_workers(queue.inspect)
        alive = live(found)
        busy = sum(w.busy for w in alive)
        slots = sum(w.concurrency for w in alive)
        claimed = sum(w.claimed for w in alive)
        ratio = busy / slots if slots else 0.0
        dead = sum(1 for w in found if w.state == "dead")
        failing = sorted(failing_queues(alive, queues))  # claims or outcomes fail, or an index is unreadable
        doc: dict[str, Any] = {
            "counts": totals,
            "queues": [
                {
                    "name": q.name,
                    "paused": q.paused,
                    "claims_failing": q.name in failing,
                    "counts": dict(q.counts),
                    "unreadable": dict(q.unreadable),
                    "oldest_pending_at": q.oldest_pending_at,
                }
                for q in queues
            ],
            "workers": len(alive),
            "dead_workers": dead,
            "busy": busy,
            "claimed": claimed,
            "slots": slots,
            "utilization": round(ratio, 4),
        }
        if json_out:
            output.print_json(doc)
            return 0
        rows = {q.name: dict(q.counts) for q in queues}
        rows["all queues"] = totals
        console = output.make_console()
        console.print(output.counts_table(rows, {q.name: q.paused for q in queues}, console.width))
        line = f"{len(alive)} live worker(s), {busy}/{slots} slots busy ({ratio:.0%}), {claimed} claimed ahead"
        if dead:
            line += f"; {dead} dead (see gdw workers)"
        console.print(line, markup=False)
        for q in queues:
            for status, why in sorted(q.unreadable.items()):
                console.print(
                    f"queue {output.clean(q.name)!r}: its {status} index cannot be read ({output.clean(why)}): "
                    f"counted as 0; gdw repair --queue {output.clean(q.name)} puts its tasks back",
                    markup=False,
                )
        if failing:
            names = ", ".join(repr(output.clean(q)) for q in failing)
            console.print(
                f"failing queue(s) {names}: claims or completions fail, or an index cannot be read (see gdw workers; "
                "gdw repair fixes a garbage index)",
                markup=False,
            )
        return 0
