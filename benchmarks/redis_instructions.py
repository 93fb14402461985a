"""Redis instructions per task, counted by callgrind: what the Redis engine costs Redis, repeatable
to about 1% whatever else the machine is doing (CPU seconds on a shared 2-core machine are not).

    python -m benchmarks.redis_instructions [--n 2000] [--annotate]

A real redis-server runs under ``valgrind --tool=callgrind`` on a free port with instrumentation
off; it is switched on (``callgrind_control -i on``) only around the measured calls, which go
through gdw's storage API exactly as a worker and a producer send them:

- single submit: one ``enqueue`` of one task per call (what ``await queue.submit(...)`` sends);
- claim + complete, batch 10 / 50: ``claim`` of up to that many tasks, then one ``complete`` of
  them (a no-op task that finishes before its start mark is due);
- claim + start + complete, batch 10: the same with the start marks a longer task sends.

``--annotate`` prints the functions with the most inclusive instructions for the last scenario,
then those with the most instructions of their own (where the Lua interpreter's time goes).
Needs valgrind (``apt-get install -y valgrind``)."""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from gdw_core import TaskRecord
from gdw_core.storage.protocol import Ack, Start
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import free_port


class Counted:
    """redis-server under callgrind; ``measure()`` brackets the calls to count."""

    def __init__(self, workdir: str) -> None:
        self.out = os.path.join(workdir, "callgrind.out")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}",
             "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)  # fmt: skip
        client = redis.Redis(port=self.port)
        for _ in range(600):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        client.close()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], capture_output=True, check=False)

    def start(self) -> None:
        for f in glob.glob(self.out + "*"):
            os.remove(f)
        self._ctl("-z")
        self._ctl("-i", "on")

    def stop(self) -> int:
        """Instructions counted since start()."""
        self._ctl("-i", "off")
        self._ctl("-d")
        time.sleep(0.3)
        total = 0
        for f in glob.glob(self.out + "*"):
            for line in Path(f).read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        return total

    def annotate(self, top: int = 40, inclusive: bool = True) -> str:
        files = glob.glob(self.out + "*")
        how = "--inclusive=yes" if inclusive else "--inclusive=no"
        res = subprocess.run(["callgrind_annotate", how, *files], capture_output=True, text=True)
        rows = [ln for ln in res.stdout.splitlines() if "(" in ln and "%" in ln and "0x0000" not in ln]
        return "\n".join(rows[:top])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def records(n: int) -> list[TaskRecord]:
    return [TaskRecord(id=uuid.uuid4().hex, name="bench:noop") for _ in range(n)]


async def fill(s: RedisStorage, n: int) -> None:
    recs = records(n)
    for i in range(0, n, 1000):
        await s.enqueue(recs[i : i + 1000])


async def single_submit(server: Counted, s: RedisStorage, n: int) -> float:
    recs = records(n)
    server.start()
    for r in recs:
        await s.enqueue([r])
    return server.stop() / n


async def claim_complete(server: Counted, s: RedisStorage, n: int, batch: int, start: bool) -> float:
    await fill(s, n)
    server.start()
    done = 0
    while done < n:
        leases = await s.claim("bench", ["default"], batch, 60.0, 0.0)
        if not leases:
            break
        if start:
            await s.start([Start(x.task.id, x.token) for x in leases])
        await s.complete([Ack(x.task.id, x.token, None) for x in leases])
        done += len(leases)
    return server.stop() / done


async def run(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as workdir:
        server = Counted(workdir)
        s = RedisStorage.from_url(server.url)
        await s.open()
        try:
            await fill(s, 10)  # the library loaded, first-call costs paid
            await claim_complete(server, s, 10, 10, True)
            rows = [("single submit (per task)", await single_submit(server, s, args.n // 4))]
            for batch in (10, 50):
                rows.append((f"claim + complete, batch {batch}", await claim_complete(server, s, args.n, batch, False)))
            rows.append(("claim + start + complete, batch 10", await claim_complete(server, s, args.n, 10, True)))
            print("| scenario | Redis instructions per task |\n|---|---|")
            for label, instr in rows:
                print(f"| {label} | {instr / 1000:,.1f} k |")
            if args.annotate:
                print("\ninclusive instructions by function, last scenario:\n")
                print(server.annotate())
                print("\nexclusive (self) instructions by function, last scenario:\n")
                print(server.annotate(30, inclusive=False))
        finally:
            await s.close()
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--annotate", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
