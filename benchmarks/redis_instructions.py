"""Redis instructions per task, counted by callgrind: what the Redis engine costs Redis, repeatable
to about 1% whatever else the machine is doing (CPU seconds on a shared 2-core machine are not).

    python -m benchmarks.redis_instructions [--n 2000] [--annotate] [--redis-server PATH]
    python -m benchmarks.redis_instructions --by-step --redis-server .bench/redis/src/redis-server

A real redis-server runs under ``valgrind --tool=callgrind`` on a free port with instrumentation
off; it is switched on (``callgrind_control -i on``) only around the measured calls, which go
through gdw's storage API exactly as a worker and a producer send them:

- single submit: one ``enqueue`` of one task per call (what ``await queue.submit(...)`` sends);
- claim + complete, batch 10 / 20 / 50: ``claim`` of up to that many tasks, then one ``complete`` of
  them (a no-op task that finishes before its start mark is due);
- claim + start + complete, batch 10: the same with the start marks a longer task sends.

``--annotate`` prints the functions with the most inclusive instructions for the last scenario,
then those with the most instructions of their own (where the Lua interpreter's time goes).

``--redis-server PATH`` is the binary run under callgrind (default: ``redis-server`` on PATH).

``--by-step`` then counts claim, start and complete (batch 10) each on its own, from a fresh
database (FLUSHALL, the function library kept, refilled), in rounds of ``--step-round`` tasks
(claim them all, then start them all, then complete them all; each step bracketed on its own), and
splits each step's instructions per task into:

- commands: inside the Redis commands the script calls (``call'2``, the inner ``call()``);
- redis.call glue: ``luaRedisGenericCommand`` (args to a client, the reply back to Lua) minus those;
- the script's Lua: the function body (``lua_pcall`` from ``luaCallFunction``) minus the above;
- per call: the rest (FCALL parsing, keys and args to Lua, the reply, networking, event loop,
  and the Lua GC step Redis runs every 50th call outside ``lua_pcall``: printed apart below, it
  falls on whichever step's call is the 50th, so it is shared out between the steps by chance).

A last row counts the three steps in one bracket (per batch claim, start, complete, as the
scenario does) from the same fresh start: the steps' sum is some % above it, as each bracket adds
its idle event loop (per call) and a round's leases are held at once: sorted sets of up to
``--step-round`` entries instead of a batch's, which each round makes again from empty and so pays
again their listpack phase (up to 128 entries, a ZADD scans them linearly) in the commands.
``--step-round 10`` is closest, and slowest (a bracket costs about a second of callgrind_control).
A fresh database pays that phase once for its other sorted sets too: a transient that ``--n 2000``
amortizes (at ``--n 200`` it adds a quarter).

It needs a redis-server with symbols: Debian's is stripped (callgrind names its static functions
by hex address); ``benchmarks/redis-symbols.sh`` builds the same version into ``.bench/redis``.
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from gdw_core import TaskRecord
from gdw_core.storage.protocol import Ack, Lease, Start
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import free_port


class Counted:
    """redis-server under callgrind; ``measure()`` brackets the calls to count."""

    def __init__(self, workdir: str, redis_server: str = "redis-server") -> None:
        self.out = os.path.join(workdir, "callgrind.out")
        self.port = free_port()
        self._costs: Costs | None = None
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}",
             redis_server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
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
        self._costs = None
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

    def costs(self) -> Costs:
        """The dump files of the last start()/stop(), read once."""
        if self._costs is None:
            self._costs = Costs()
            for f in glob.glob(self.out + "*"):
                self._costs.read(Path(f))
        return self._costs

    def inclusive(self, symbol: str) -> int:
        """Inclusive instructions of the function named exactly ``symbol`` (``call'2``: the second
        level of a recursion) between the last start() and stop(), summed over the dump files."""
        return self.costs().inclusive.get(symbol, 0)

    def called(self, caller: str, callee: str) -> int:
        """Inclusive instructions of ``callee`` as called by ``caller`` (exact names)."""
        return self.costs().calls.get((caller, callee), 0)

    def named(self, *symbols: str) -> bool:
        """Whether the dump names all these functions (a stripped binary names only its exported
        ones, the dynamic symbols: a static function shows as a hex address)."""
        return all(self.inclusive(symbol) > 0 for symbol in symbols)

    def annotate(self, top: int = 40, inclusive: bool = True) -> str:
        files = glob.glob(self.out + "*")
        how = "--inclusive=yes" if inclusive else "--inclusive=no"
        res = subprocess.run(["callgrind_annotate", how, *files], capture_output=True, text=True)
        rows = [ln for ln in res.stdout.splitlines() if "(" in ln and "%" in ln and "0x0000" not in ln]
        return "\n".join(rows[:top])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _name(ref: str, names: dict[str, str]) -> str:
    """A compressed name of callgrind's format: ``(id) name`` defines the id, ``(id)`` reuses it."""
    if not ref.startswith("("):
        return ref
    ident, _, name = ref.partition(")")
    if name:
        names[ident] = name.strip()
    return names.get(ident, ref)


@dataclass
class Costs:
    """Inclusive costs (the first event, Ir) read from callgrind out files: of each function (its
    own cost lines plus the costs of its calls; a call of a function to itself by the same name is
    not added twice, its inner lines are already its own), and of each caller -> callee pair."""

    inclusive: dict[str, int] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)

    def read(self, path: Path) -> None:
        names: dict[str, str] = {}
        fn = callee = ""
        npos, in_call = 1, False
        with path.open() as fh:
            for line in fh:
                if not line or line[0] in "\n#":
                    continue
                if line[0].isdigit() or line[0] in "+-*":
                    fields = line.split()
                    cost = int(fields[npos]) if len(fields) > npos else 0
                    if in_call:
                        self.calls[fn, callee] = self.calls.get((fn, callee), 0) + cost
                    if not in_call or callee != fn:
                        self.inclusive[fn] = self.inclusive.get(fn, 0) + cost
                    in_call = False
                elif line.startswith("fn="):
                    fn = _name(line[3:].rstrip("\n"), names)
                elif line.startswith("cfn="):
                    callee = _name(line[4:].rstrip("\n"), names)
                elif line.startswith("calls="):
                    in_call = True
                elif line.startswith("positions:"):
                    npos = len(line.split()) - 1


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


async def submit_split(server: Counted, s: RedisStorage, n: int) -> Split:
    """Single submits from a fresh database, split as the steps are."""
    await fresh(server, s)
    split = Split()
    per_task = await single_submit(server, s, n)
    split.add(server, round(per_task * n), n)
    return split


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


STEPS = ("claim", "start", "complete")
NO_SYMBOLS = """\
{path}
is stripped (as Debian's redis-server is): only its exported functions, such as call and lua_pcall,
keep a name, static ones such as luaRedisGenericCommand come out as hex addresses, so the steps'
instructions cannot be split. Build one with symbols, the same version:
    benchmarks/redis-symbols.sh   # then: --redis-server .bench/redis/src/redis-server"""


@dataclass
class Split:
    """One step's instructions, summed over its brackets (the parts: see the module docstring)."""

    tasks: int = 0
    total: int = 0
    commands: int = 0  # call'2, inclusive: the commands redis.call runs
    redis_call: int = 0  # luaRedisGenericCommand, inclusive (the commands within)
    lua: int = 0  # lua_pcall as called by luaCallFunction, inclusive (redis.call within)
    gc: int = 0  # lua_gc as called by luaCallFunction (a GC step every 50th call): part of per call
    named: bool = True

    def add(self, server: Counted, total: int, tasks: int) -> None:
        """The counts of ``server``'s last start()/stop(), which handled ``tasks`` tasks."""
        self.tasks += tasks
        self.total += total
        self.commands += server.inclusive("call'2")
        generic = server.inclusive("luaRedisGenericCommand")
        if not generic:  # inlined into its two callers
            generic = server.inclusive("luaRedisCallCommand") + server.inclusive("luaRedisPCallCommand")
        lua = server.called("luaCallFunction", "lua_pcall")
        self.named = self.named and generic > 0 and lua > 0 and server.named("call'2")
        self.redis_call += generic
        self.lua += lua
        self.gc += server.called("luaCallFunction", "lua_gc")

    def __add__(self, other: Split) -> Split:
        """Two steps of the same tasks: the counts add, the tasks do not."""
        return Split(
            max(self.tasks, other.tasks), self.total + other.total, self.commands + other.commands,
            self.redis_call + other.redis_call, self.lua + other.lua, self.gc + other.gc,
            self.named and other.named)  # fmt: skip

    def parts(self) -> tuple[int, int, int, int]:
        """(per call, commands, glue, Lua), summed over the tasks: they add up to the total."""
        return self.total - self.lua, self.commands, self.redis_call - self.commands, self.lua - self.redis_call

    def row(self, label: str) -> str:
        """A markdown row, k instructions per task."""
        cells = " | ".join(f"{v / self.tasks / 1000:,.1f}" for v in (self.total, *self.parts()))
        return f"| {label} | {cells} |"


def libraries(client: redis.Redis) -> list[bytes]:
    """FUNCTION LIST's library names (RESP2: each library a flat list of field, value)."""
    return [dict(zip(lib[::2], lib[1::2], strict=True))[b"library_name"] for lib in client.function_list()]


async def fresh(server: Counted, s: RedisStorage) -> None:
    """FLUSHALL (the function library stays: checked), then the first-call costs paid again."""
    client = redis.Redis(port=server.port)
    try:
        before = libraries(client)
        client.flushall()
        after = libraries(client)
    finally:
        client.close()
    if not after or after != before:
        raise SystemExit(f"FLUSHALL changed the function library: {before!r} -> {after!r}")
    await fill(s, 10)
    await claim_complete(server, s, 10, 10, True)


async def claim_all(s: RedisStorage, count: int, batch: int) -> list[Lease]:
    """``count`` tasks claimed ``batch`` at a time (a lease outliving the round under callgrind)."""
    got: list[Lease] = []
    while len(got) < count:
        leases = await s.claim("bench", ["default"], min(batch, count - len(got)), 3600.0, 0.0)
        if not leases:
            break
        got.extend(leases)
    return got


async def start_all(s: RedisStorage, leases: list[Lease], batch: int) -> None:
    for i in range(0, len(leases), batch):
        await s.start([Start(x.task.id, x.token) for x in leases[i : i + batch]])


async def complete_all(s: RedisStorage, leases: list[Lease], batch: int) -> None:
    for i in range(0, len(leases), batch):
        await s.complete([Ack(x.task.id, x.token, None) for x in leases[i : i + batch]])


async def by_step(server: Counted, s: RedisStorage, n: int, batch: int, round_size: int) -> dict[str, Split]:
    """Claim, start and complete counted apart, from a fresh database: per round, claim
    ``round_size`` tasks ``batch`` at a time (one bracket), start them (one), complete them (one)."""
    await fresh(server, s)
    await fill(s, n)
    splits = {name: Split() for name in STEPS}
    done = 0
    while done < n:
        server.start()
        leases = await claim_all(s, min(round_size, n - done), batch)
        splits["claim"].add(server, server.stop(), len(leases))
        if not leases:
            break
        server.start()
        await start_all(s, leases, batch)
        splits["start"].add(server, server.stop(), len(leases))
        server.start()
        await complete_all(s, leases, batch)
        splits["complete"].add(server, server.stop(), len(leases))
        done += len(leases)
    return splits


async def together(server: Counted, s: RedisStorage, n: int, batch: int) -> Split:
    """The same from the same fresh start, the three steps in one bracket (as the scenario): what
    the steps' sum is checked against."""
    await fresh(server, s)
    split = Split()
    per_task = await claim_complete(server, s, n, batch, True)
    split.add(server, round(per_task * n), n)
    return split


def print_steps(splits: dict[str, Split], one: Split, path: str, submit: Split | None = None) -> None:
    print(f"\nby step, claim + start + complete, batch 10, {path} (k instructions per task):\n")
    if not all(sp.named for sp in [*splits.values(), one]):
        print("| step | total |\n|---|---|")
        for name, sp in [*splits.items(), ("the three", sum(splits.values(), Split())), ("one bracket", one)]:
            print(f"| {name} | {sp.total / sp.tasks / 1000:,.1f} |")
        print("\n" + NO_SYMBOLS.format(path=path))
        return
    print("| step | total | per call | commands | glue | Lua |\n|---|---|---|---|---|---|")
    for name, sp in splits.items():
        print(sp.row(name))
    print(sum(splits.values(), Split()).row("the three"))
    print(one.row("one bracket (claim, start, complete per batch)"))
    if submit is not None:
        print(submit.row("single submit (one task per call)"))
    gc = ", ".join(f"{name} {sp.gc / sp.tasks / 1000:,.1f}" for name, sp in [*splits.items(), ("one bracket", one)])
    print(f"\nof per call, Redis's Lua GC step (lua_gc from luaCallFunction, every 50th call): {gc}")
    if any(v < 0 for sp in [*splits.values(), one] for v in sp.parts()):
        print("\nwarning: a negative part: the symbols do not nest as assumed (see Split)")


def server_binary(path: str) -> str:
    found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if found is None:
        raise SystemExit(f"redis-server not found: {path} (benchmarks/redis-symbols.sh builds one)")
    return os.path.abspath(found)


async def run(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as workdir:
        binary = server_binary(args.redis_server)
        server = Counted(workdir, binary)
        s = RedisStorage.from_url(server.url)
        await s.open()
        try:
            await fill(s, 10)  # the library loaded, first-call costs paid
            await claim_complete(server, s, 10, 10, True)
            rows = [("single submit (per task)", await single_submit(server, s, args.n // 4))]
            for batch in (10, 20, 50):  # (20: the drain's, concurrency 10 and its claim-ahead buffer)
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
            if args.by_step:
                splits = await by_step(server, s, args.n, 10, args.step_round)
                one = await together(server, s, args.n, 10)
                print_steps(splits, one, binary, await submit_split(server, s, args.n // 4))
        finally:
            await s.close()
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--annotate", action="store_true")
    parser.add_argument("--redis-server", default="redis-server", help="the binary run under callgrind")
    parser.add_argument("--by-step", action="store_true", help="claim, start and complete apart, split")
    parser.add_argument("--step-round", type=int, default=500, help="tasks per round of --by-step")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
