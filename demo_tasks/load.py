"""A steady mixed workload of demo tasks, for demos, the dashboard and its tests.

    python -m demo_tasks.load --redis localhost:6379 --rate 50/s --duration 60s
    python -m demo_tasks.load --rate 20/s --mix fast=5,sleepy=3,flaky=2,failing=1

:func:`generate` is the same workload for an embedded queue (the dashboard's ``--demo`` mode).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gdw_core import GdwError, QueueFull, TaskQueue, chord, group, sig
from gdw_core.duration import parse_duration

ArgMaker = Callable[[random.Random], tuple[list[Any], dict[str, Any]]]

#: short name -> (weight in the default mix, how to make one call's arguments)
KINDS: dict[str, tuple[int, ArgMaker]] = {
    "fast": (40, lambda r: ([r.randint(0, 999)], {})),
    "sleepy": (20, lambda r: ([], {"min_seconds": 0.1, "max_seconds": round(r.uniform(0.5, 3.0), 2)})),
    "flaky": (12, lambda r: ([], {"probability": 0.5})),
    "failing": (2, lambda r: ([], {})),
    "progress": (4, lambda r: ([], {"steps": r.randint(4, 12), "step_seconds": 0.5})),
    "cpu": (4, lambda r: ([], {"rounds": r.randint(20_000, 200_000)})),
    "cancellable": (2, lambda r: ([], {"steps": 30, "step_seconds": 1.0})),
    "fanout": (1, lambda r: ([], {"count": r.randint(2, 6)})),
    "resize": (15, lambda r: ([f"photos/img{r.randint(1, 9999):04d}.jpg", r.choice([320, 640, 800, 1280])], {})),
    # a burst of API calls over a 1/s limit: some wait throttled, then drain at the limit's pace
    "call_api": (3, lambda r: ([r.choice(["/v1/charges", "/v1/refunds", "/v1/customers"])], {})),
    # a workflow: resize 3-6 pictures in parallel, then build the album from all of their results
    "album": (2, lambda r: ([r.randint(3, 6)], {})),
}

#: how many calls one pick of a kind submits at once (the rest: one)
BURST: dict[str, int] = {"call_api": 5}

DEFAULT_MIX: dict[str, int] = {name: weight for name, (weight, _) in KINDS.items()}


async def _album(queue: TaskQueue, rng: random.Random, pictures: int) -> None:
    """One album workflow: ``pictures`` resizes in parallel, then ``build_album`` with every result."""
    resizes = [sig("demo_tasks:resize", f"album/{rng.randint(1, 9999):04d}.jpg", 640) for _ in range(pictures)]
    await queue.submit_workflow(chord(group(*resizes), sig("demo_tasks:build_album")))


def parse_mix(text: str) -> dict[str, int]:
    """``"fast=5,sleepy=3"`` -> weights; names are the demo task names without ``demo_tasks:``."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, weight = part.partition("=")
        name = name.strip().removeprefix("demo_tasks:")
        if name not in KINDS:
            raise ValueError(f"unknown kind {name!r} in --mix (known: {', '.join(KINDS)})")
        try:
            value = int(weight) if eq else 1
        except ValueError:
            raise ValueError(f"bad weight {weight!r} for {name!r} in --mix: use an integer") from None
        if value < 0:
            raise ValueError(f"weight for {name!r} must be >= 0")
        mix[name] = value
    if not any(mix.values()):
        raise ValueError("--mix needs at least one kind with a weight above 0")
    return mix


def parse_rate(text: str) -> float:
    """``"50/s"``, ``"300/m"``, ``"2/h"`` or a plain number (per second)."""
    s = text.strip().lower()
    count, slash, unit = s.partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit if slash else "")
    try:
        value = float(count)
    except ValueError:
        value = -1.0
    if per is None or not value > 0:
        raise ValueError(f"bad rate {text!r}: use e.g. 50/s, 300/m or 20")
    return value / per


@dataclass
class LoadStats:
    submitted: int = 0
    dropped: int = 0  # refused because a queue was full
    by_kind: dict[str, int] = field(default_factory=dict)


async def generate(
    queue: TaskQueue,
    rate: float,
    stop: asyncio.Event | None = None,
    *,
    mix: Mapping[str, int] | None = None,
    duration: float | None = None,
    seed: int | None = None,
    stats: LoadStats | None = None,
) -> LoadStats:
    """Submit demo tasks to ``queue`` at ``rate`` per second (a weighted random ``mix`` of kinds)
    until ``stop`` is set or ``duration`` seconds pass. Tasks refused because a queue is full are
    counted as dropped, not raised. Returns the counts (also kept up to date in ``stats``)."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    weights = dict(DEFAULT_MIX if mix is None else mix)
    kinds: Sequence[str] = [k for k, w in weights.items() if w > 0]
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"mix must name some of {', '.join(KINDS)}")
    rng = random.Random(seed)
    stop = stop or asyncio.Event()
    stats = stats or LoadStats()
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = None if duration is None else start + duration
    owed = 0.0
    last = start
    tick = min(0.1, 1.0 / rate)
    while not stop.is_set():
        now = loop.time()
        if end is not None and now >= end:
            break
        owed += (now - last) * rate
        last = now
        while owed >= 1 and not stop.is_set():
            owed -= 1
            kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
            args, kwargs = KINDS[kind][1](rng)
            try:
                if kind == "album":
                    await _album(queue, rng, args[0])
                else:
                    for _ in range(BURST.get(kind, 1)):
                        await queue.submit(f"demo_tasks:{kind}", *args, **kwargs)
            except QueueFull:
                stats.dropped += 1
                continue
            stats.submitted += 1
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
        wait = tick if end is None else max(0.0, min(tick, end - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
    return stats


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m demo_tasks.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--redis", default=os.environ.get("GDW_REDIS_URL", "localhost:6379"), help="Redis URL")
    p.add_argument("--rate", default="10/s", help="tasks per second: 50/s, 300/m or a number (default 10/s)")
    p.add_argument("--duration", default=None, help="stop after this long (30s, 5m); default: until Ctrl-C")
    p.add_argument("--mix", default=None, help=f"weights, e.g. fast=5,sleepy=3 (kinds: {', '.join(KINDS)})")
    p.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable workload")
    return p


async def _run(url: str, rate: float, duration: float | None, mix: dict[str, int] | None, seed: int | None) -> int:
    from gdw_core.storage.redis import RedisStorage

    queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
    stats = LoadStats()
    try:
        await queue.open_storage()
        await generate(queue, rate, mix=mix, duration=duration, seed=seed, stats=stats)
    finally:
        print(f"submitted {stats.submitted} tasks ({stats.dropped} dropped): {stats.by_kind}", file=sys.stderr)
        await queue.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        rate = parse_rate(ns.rate)
        duration = None if ns.duration is None else parse_duration(ns.duration)
        mix = None if ns.mix is None else parse_mix(ns.mix)
    except (ValueError, GdwError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(ns.redis, rate, duration, mix, ns.seed))
    except KeyboardInterrupt:
        return 0
    except (GdwError, ConnectionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
