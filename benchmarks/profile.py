"""Where the time goes when gdw drains: CPU seconds spent by Redis and by the worker processes
per 1,000 tasks (so the ceiling on this machine is visible), and optionally a py-spy profile of
one worker process.

    python -m benchmarks.profile [--n 20000] [--processes 1] [--concurrency 10] [--py-spy FILE]

``--py-spy FILE`` records the (first) worker with py-spy (``pip install py-spy``) in ``raw``
(collapsed stacks) format and prints the functions with the most own time and the most total time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis

from benchmarks import probe
from benchmarks.harness import RedisServer, table
from benchmarks.peers.base import Workers
from benchmarks.peers.gdw import Gdw

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def command_stats(client: redis.Redis) -> dict[str, tuple[int, float]]:
    """{command: (calls, usec)} from INFO commandstats."""
    out = {}
    for name, v in client.info("commandstats").items():
        out[name.removeprefix("cmdstat_")] = (int(v["calls"]), float(v["usec"]))
    return out


def where_it_goes(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]], n: int) -> str:
    """Redis CPU per task by command (scripts' inner commands are counted inside evalsha/fcall too)."""
    rows = []
    for name, (calls, usec) in after.items():
        c0, u0 = before.get(name, (0, 0.0))
        if calls - c0 <= 0:
            continue
        rows.append((usec - u0, name, calls - c0))
    rows.sort(reverse=True)
    return table(["command", "calls / task", "usec / call", "usec / task"],
                 [[f"`{name}`", f"{calls / n:.2f}", f"{us / calls:.2f}", f"{us / n:.2f}"]
                  for us, name, calls in rows[:16]])  # fmt: skip


def by_script(client: redis.Redis, n: int) -> str:
    """Redis time per task by gdw script, from the slow log (every call logged: --by-script)."""
    from gdw_core.storage.redis.scripts import Scripts

    scripts = Scripts()
    names = {s.sha: s.name for s in scripts.by_name.values()}
    names.update({fn: name for name, fn in scripts.library.functions.items()})
    agg: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for entry in client.slowlog_get(10_000_000):
        cmd = entry["command"].split()
        if not cmd or cmd[0].lower() not in (b"evalsha", b"fcall"):
            continue
        name = names.get(cmd[1].decode(), cmd[1].decode())
        agg[name] += entry["duration"]
        calls[name] += 1
    return table(["script", "calls / task", "usec / call", "usec / task"],
                 [[name, f"{calls[name] / n:.3f}", f"{us / calls[name]:.1f}", f"{us / n:.2f}"]
                  for name, us in agg.most_common()])  # fmt: skip


def summarize(raw: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        if "probe.py" in stack or stack.endswith("EpollSelector.select (selectors.py:468)"):
            idle += int(count)  # the benchmark's reporter thread, or the loop waiting for I/O
            continue
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    rows = [
        [f"{100 * n / samples:.1f}%", f"{100 * total[f] / samples:.1f}%", f"`{f}`"] for f, n in own.most_common(top)
    ]
    head = f"{samples:,} busy samples of the event loop thread ({idle:,} idle samples left out)\n\n"
    return head + table(["own", "total", "function (file:line)"], rows)


async def run(args: argparse.Namespace) -> None:
    with RedisServer() as server:
        os.environ["BENCH_REDIS_URL"] = server.url
        client = redis.Redis.from_url(server.url)
        adapter = Gdw()
        await adapter.open()
        await adapter.enqueue_batch("noop", args.n)
        await adapter.close()
        workers = Workers(adapter, server.url, args.concurrency, args.processes)
        spy = None
        if args.py_spy:
            exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            spy = subprocess.Popen([exe, "record", "-r", "500", "-f", "raw", "-o", args.py_spy,
                                    "-p", str(workers.procs[0].pid)], stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            while not probe.read_done(client)[0]:  # CPU is counted from the first finished task on
                workers.check()
                await asyncio.sleep(0.005)
            t0 = time.perf_counter()
            done_at_start = probe.read_done(client)[0]
            r0 = redis_cpu(client)
            s0 = command_stats(client)
            if args.by_script:
                client.config_set("slowlog-max-len", 10_000_000)
                client.config_set("slowlog-log-slower-than", 0)
                client.slowlog_reset()
            w0 = sum(cpu_seconds(p.pid) for p in workers.procs)
            while (done := probe.read_done(client))[0] < args.n:
                workers.check()
                await asyncio.sleep(0.02)
            wall = time.perf_counter() - t0
            rate = (args.n - 1) / (done[2] - done[1])
            redis_s = redis_cpu(client) - r0
            s1 = command_stats(client)
            if args.by_script:
                client.config_set("slowlog-log-slower-than", 10_000)
            worker_s = sum(cpu_seconds(p.pid) for p in workers.procs) - w0
        finally:
            if spy is not None:
                spy.send_signal(2)
                spy.wait(30)
            workers.stop()
        per_task = 1e6 / (args.n - done_at_start)  # CPU seconds -> µs per task finished in the window
        print(f"{args.n:,} no-op tasks, {args.processes} worker process(es) x concurrency {args.concurrency}\n")
        print(table(["drain (tasks/s)", "timed (s)", "Redis CPU µs / task", "workers CPU µs / task",
                     "Redis busy", "workers busy (of one core each)"],
                    [[f"{rate:,.0f}", f"{wall:.2f}", f"{redis_s * per_task:.1f}", f"{worker_s * per_task:.1f}",
                      f"{100 * redis_s / wall:.0f}%", f"{100 * worker_s / wall / args.processes:.0f}%"]]))  # fmt: skip
        print("\nRedis time by command (INFO commandstats; a script's own commands are inside its evalsha/fcall):\n")
        print(where_it_goes(s0, s1, args.n - done_at_start))
        if args.by_script:
            print("\nRedis time by script (slow log of every call; logging adds its own cost):\n")
            print(by_script(client, args.n - done_at_start))
        if args.py_spy and Path(args.py_spy).exists():
            print("\nworker profile (py-spy, 500 Hz), functions by own time:\n")
            print(summarize(Path(args.py_spy)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--by-script", action="store_true", help="log every call to break Redis time down by script")
    parser.add_argument("--py-spy", default=None, metavar="FILE")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
