"""gdw against its peers, and at scale.

    python -m benchmarks [--scenarios enqueue,drain,sleep,latency,scale,embedded] [--n 20000]
                         [--repeat 3] [--peers all|none|arq,saq,...] [--scale-n 1000000]

Starts its own redis-server on a free loopback port, runs every scenario for gdw and each peer
(``benchmarks/peers/<name>.py``, each in its own worker processes, Redis flushed before every run),
``--repeat`` times interleaved, and prints Markdown tables of medians with the spread (min-max).
Peers run in ``$BENCH_PEER_PYTHON`` (default .bench/venv/bin/python, made by benchmarks/peers-env.sh); a peer
that is not installed or fails shows its error in the table. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from benchmarks.harness import RedisServer, machine, peer_python, run_driver, spread, table
from benchmarks.peers import SYSTEMS

ALL_SCENARIOS = ["enqueue", "drain", "sleep", "latency", "scale", "embedded"]

#: (row label, scenario, result key, digits, higher is better)
ROWS = [
    ("enqueue one at a time (tasks/s)", "enqueue", "enqueue single /s", 0, True),
    ("enqueue batch API (tasks/s)", "enqueue", "enqueue batch /s", 0, True),
    ("drain, 1 process, concurrency 10 (tasks/s)", "drain c10", "rate", 0, True),
    ("drain, 1 process, concurrency 100 (tasks/s)", "drain c100", "rate", 0, True),
    ("drain, 2 processes x concurrency 10 (tasks/s)", "drain 2p", "rate", 0, True),
    ("drain, 4 processes x concurrency 10 (tasks/s)", "drain 4p", "rate", 0, True),
    ("Redis CPU per task, drain 1 process c10 (µs)", "drain c10", "redis us/task", 1, False),
    ("Redis CPU per task, drain 1 process c100 (µs)", "drain c100", "redis us/task", 1, False),
    ("Redis CPU per task, drain 2 processes (µs)", "drain 2p", "redis us/task", 1, False),
    ("Redis CPU per task, drain 4 processes (µs)", "drain 4p", "redis us/task", 1, False),
    ("sleep 10 ms, concurrency 100 (tasks/s, ideal 10,000)", "sleep", "rate", 0, True),
    ("latency idle p50 (ms)", "latency idle", "p50", 2, False),
    ("latency idle p99 (ms)", "latency idle", "p99", 2, False),
    ("latency at 50% load p50 (ms)", "latency load", "p50", 2, False),
    ("latency at 50% load p99 (ms)", "latency load", "p99", 2, False),
    ("latency at a shared load p50 (ms)", "latency shared", "p50", 2, False),
    ("latency at a shared load p99 (ms)", "latency shared", "p99", 2, False),
]

#: latency jobs run under a background load: "latency load" at half the system's own drain rate
#: (concurrency 10), "latency shared" at half the slowest system's, the same load for every system
LOADED = ("latency load", "latency shared")


def jobs_for(scenarios: list[str], url: str, n: int, budget: float) -> list[tuple[str, dict[str, Any]]]:
    timeout = max(60.0, n / 100)
    base = {"url": url, "n": n, "timeout": timeout, "budget": budget}
    out: list[tuple[str, dict[str, Any]]] = []
    if "enqueue" in scenarios:
        out.append(("enqueue", {**base, "scenario": "enqueue"}))
    if "drain" in scenarios:
        out.append(("drain c10", {**base, "scenario": "drain", "concurrency": 10}))
        out.append(("drain c100", {**base, "scenario": "drain", "concurrency": 100}))
        out.append(("drain 2p", {**base, "scenario": "drain", "concurrency": 10, "processes": 2}))
        out.append(("drain 4p", {**base, "scenario": "drain", "concurrency": 10, "processes": 4}))
    if "sleep" in scenarios:
        out.append(("sleep", {**base, "scenario": "drain", "kind": "sleep", "concurrency": 100, "n": max(n // 2, 2)}))
    if "latency" in scenarios:
        out.append(("latency idle", {**base, "scenario": "latency", "concurrency": 10}))
        out.append(("latency load", {**base, "scenario": "latency", "concurrency": 10}))
        out.append(("latency shared", {**base, "scenario": "latency", "concurrency": 10}))
    return out


def run_systems(args: argparse.Namespace, url: str, systems: list[str]) -> dict[tuple[str, str], list[Any]]:
    """results[(system, scenario)] = one result dict per repeat. In each repeat every system runs
    its unloaded scenarios first, then the loaded latency ones, whose rates come from the drains."""
    results: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in range(args.repeat):
        jobs = jobs_for(args.scenarios, url, args.n, args.budget)
        for loaded in (False, True):
            for system in systems:
                python = sys.executable if system == "gdw" else peer_python(system, args.peer_python)
                for label, job in jobs:
                    if (label in LOADED) != loaded:
                        continue
                    if loaded:
                        rate = load_rate(results, systems, system, label)
                        if rate is None:
                            results[(system, label)].append({"error": "needs a drain c10 figure (--scenarios drain)"})
                            continue
                        job = {**job, "rate": rate}
                    t0 = time.perf_counter()
                    out = run_driver(python, system, job)
                    took = time.perf_counter() - t0
                    print(f"[run {r + 1}/{args.repeat}] {system:9} {label:14} {took:6.1f}s {out}", file=sys.stderr)
                    results[(system, label)].append(out)
    return results


def load_rate(results: dict[tuple[str, str], list[Any]], systems: list[str], system: str, label: str) -> float | None:
    """The background load (tasks/s) of a loaded latency job: half the drain rate (concurrency 10,
    this repeat) of the system itself, or of the slowest system that has one ("latency shared")."""
    rates = {}
    for s in systems:
        drained = results.get((s, "drain c10"), [])
        rate = drained[-1].get("rate") if drained else None
        if isinstance(rate, float):
            rates[s] = rate
    if label == "latency load":
        own = rates.get(system)
        return own / 2 if own is not None else None
    return min(rates.values()) / 2 if rates else None


def cell(values: list[Any], key: str, digits: int) -> tuple[str, float | None]:
    numbers = [v[key] for v in values if isinstance(v.get(key), (int, float))]
    if numbers:
        return spread(numbers, digits), statistics.median(numbers)
    for v in values:  # every run failed or the figure does not apply: say why
        if "error" in v:
            return f"failed: {v['error']}".replace("|", "/"), None
        if isinstance(v.get(key), str):
            return str(v[key]), None
    return "—", None


def peers_table(results: dict[tuple[str, str], list[Any]], systems: list[str]) -> str:
    rows = []
    for label, scenario, key, digits, higher in ROWS:
        if not any((s, scenario) in results for s in systems):
            continue
        cells, medians = [], {}
        for s in systems:
            text, med = cell(results.get((s, scenario), []), key, digits)
            cells.append(text)
            if med is not None:
                medians[s] = med
        peers = {s: m for s, m in medians.items() if s != "gdw"}
        best = ""
        ratio = ""
        if peers:
            name = (max if higher else min)(peers, key=lambda s: peers[s])
            best = f"{name} {peers[name]:,.{digits}f}"
            if "gdw" in medians and peers[name] > 0 and medians["gdw"] > 0:
                ratio = f"{medians['gdw'] / peers[name]:.2f}x"
        rows.append([label, *cells, best, ratio])
    return table(["scenario", *systems, "best peer", "gdw ÷ best peer"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help="comma-separated; default: all")
    parser.add_argument("--n", type=int, default=20_000, help="tasks per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--budget", type=float, default=8.0, help="a drain stops being timed this many seconds after its first task"
    )
    parser.add_argument("--peers", default="all", help="all | none | comma-separated names")
    parser.add_argument(
        "--pin",
        default=None,
        metavar="CPUS",
        help="run Redis, every driver and every worker on these CPUs (e.g. 0): the same placement for "
        "every system, so a run does not depend on where the scheduler puts the processes",
    )
    parser.add_argument("--peer-python", default=None, help="the Python the peers are installed in")
    parser.add_argument("--scale-n", type=int, default=1_000_000, help="tasks in the scale scenario")
    parser.add_argument("--embedded-n", type=int, default=100_000, help="tasks in the embedded scenario")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(ALL_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.peers == "all":
        peers = SYSTEMS[1:]
    elif args.peers == "none":
        peers = []
    else:
        peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        bad = set(peers) - set(SYSTEMS[1:])
        if bad:
            parser.error(f"unknown peers: {', '.join(sorted(bad))} (known: {', '.join(SYSTEMS[1:])})")
    systems = ["gdw", *peers]

    if args.pin:  # inherited by redis-server, the drivers and their workers
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    with RedisServer() as server:
        print(f"Machine: {machine(server)}")
        if args.pin:
            print(f"Pinned: every process on CPU {args.pin}")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"redis-server {server.url}; n={args.n}; repeat={args.repeat}; {when}")
        print()
        results = run_systems(args, server.url, systems)
        if results:
            print(f"## gdw and peers (median of {args.repeat}, min-max in brackets)\n")
            print(peers_table(results, systems))
            print()
        if "scale" in args.scenarios:
            from benchmarks.scale import run_scale

            print(f"## Scale: gdw with {args.scale_n:,} tasks\n")
            print(asyncio.run(run_scale(server, args.scale_n)))
            print()
    if "embedded" in args.scenarios:
        from benchmarks.embedded import main_async as embedded

        rates = asyncio.run(embedded(args.embedded_n, 10, args.repeat))
        reference = rates["reference: tight asyncio loop"]
        print(f"## Embedded: {args.embedded_n:,} no-op tasks, 10 workers, memory storage (median of {args.repeat})\n")
        print(table(["run", "tasks/s", "÷ tight loop"],
                    [[name, f"{rate:,.0f}", f"{rate / reference:.2f}"] for name, rate in rates.items()]))  # fmt: skip
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
