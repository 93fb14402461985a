"""Real deployments for the production tests: a Sentinel group (master, replica, three
redis-sentinel processes) on free loopback ports, and ``gdw worker`` processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support.redis_server import RedisServer, _cli, free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "gdwmaster"

TASKS = '''
"""Tasks run by the worker processes of the production tests."""
import asyncio
import os


async def quick(n):
    return n * 2


async def sleepy(seconds):
    await asyncio.sleep(seconds)
    return os.getpid()


async def environment():
    """What this task (and anything it spawns) sees: its environ, and a child's /proc environ."""
    proc = await asyncio.create_subprocess_exec("sleep", "0.5")
    await asyncio.sleep(0.1)
    with open(f"/proc/{proc.pid}/environ", "rb") as f:
        child = f.read().decode("utf-8", "replace")
    await proc.wait()
    return {"own": dict(os.environ), "child": child, "pid": os.getpid()}
'''


class SentinelGroup:
    """A master, one replica and three sentinels watching it (quorum 2)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.master = RedisServer()
        self.replica: RedisServer | None = None
        self.sentinels: list[tuple[int, subprocess.Popen[bytes]]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port, _ in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica = RedisServer("--replicaof", "127.0.0.1", str(self.master.port)).start()
        for i in range(3):
            self.sentinels.append(start_sentinel(self.tmp, f"sentinel-{i}", self.master.port, quorum=2))
        self.wait_settled()
        return self

    def sentinel_cli(self, *args: str, index: int = 0) -> str:
        return _cli(self.sentinels[index][0], *args)

    def master_port(self) -> int:
        out = self.sentinel_cli("sentinel", "get-master-addr-by-name", SERVICE).split()
        return int(out[1]) if len(out) == 2 else 0

    def wait_settled(self, timeout: float = 60) -> None:
        """Every sentinel knows the other two and a replica in sync with the master."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for i in range(3):
                peers = self.sentinel_cli("sentinel", "sentinels", SERVICE, index=i).count("name")
                replicas = self.sentinel_cli("sentinel", "replicas", SERVICE, index=i)
                ok = ok and peers >= 2 and "master-link-status\nok" in replicas
            if ok:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the sentinels did not settle; logs in {self.tmp}")

    def servers(self) -> list[RedisServer]:
        return [s for s in (self.master, self.replica) if s is not None]

    def stop(self) -> None:
        for _, proc in self.sentinels:
            proc.terminate()
        for _, proc in self.sentinels:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in self.servers():
            server.stop()


def start_sentinel(tmp: Path, name: str, master_port: int, quorum: int) -> tuple[int, subprocess.Popen[bytes]]:
    """A redis-sentinel process watching the master on ``master_port`` as SERVICE: (port, process)."""
    port = free_port()
    conf = tmp / f"{name}.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\nlogfile {tmp}/{name}.log\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    proc = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return port, proc


def spawn_gdw_worker(
    task_dir: Path, *args: str, env: dict[str, str] | None = None, log_name: str = "worker"
) -> subprocess.Popen[bytes]:
    """``gdw worker prod_tasks ARGS`` as its own process, its output in task_dir/<log_name>.log."""
    full = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{task_dir}", **(env or {})}
    for key in ("GDW_REDIS_URL", "GDW_REDIS_FILE", "GDW_NAMESPACE"):
        if env is None or key not in env:
            full.pop(key, None)
    log = open(task_dir / f"{log_name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [sys.executable, "-m", "gdw_core.cli", "worker", "prod_tasks", *args],
        cwd=task_dir,
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def have_sentinel() -> bool:
    return shutil.which("redis-sentinel") is not None


class ReplicatedCluster:
    """A Redis Cluster of three masters, each with one replica (``cluster-node-timeout`` 1 s, so a
    dead master is replaced within about two seconds)."""

    def __init__(self) -> None:
        self.nodes = [RedisServer("--cluster-node-timeout", "1000", cluster=True) for _ in range(6)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    def start(self) -> ReplicatedCluster:
        for node in self.nodes:
            node.start()
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        out = subprocess.run(
            ["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout} {out.stderr}")
        self.wait_healthy()
        return self

    def alive(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def table(self) -> list[list[str]]:
        """CLUSTER NODES as seen by a live node: id, address, flags, master id, ..., slot ranges."""
        return [line.split() for line in self.alive()[0].cli("cluster", "nodes").splitlines() if line.strip()]

    def wait_healthy(self, timeout: float = 60) -> None:
        """cluster_state ok everywhere, three masters each with a replica whose link is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = all("cluster_state:ok" in n.cli("cluster", "info") for n in self.alive())
            replicas = [n for n in self.alive() if "role:slave" in n.cli("info", "replication")]
            ok = (
                ok
                and len(replicas) == 3
                and all("master_link_status:up" in r.cli("info", "replication") for r in replicas)
            )
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become healthy")

    def master_of(self, key: str) -> tuple[RedisServer, RedisServer | None]:
        """The master serving ``key``'s slot and its live replica (None after a failover by kill)."""
        slot = int(self.alive()[0].cli("cluster", "keyslot", key))
        rows = self.table()
        for row in rows:
            if "master" not in row[2] or "fail" in row[2]:
                continue
            for part in row[8:]:
                lo, _, hi = part.partition("-")
                if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                    replica = next((r for r in rows if r[3] == row[0] and "fail" not in r[2]), None)
                    return self._node(row[1]), None if replica is None else self._node(replica[1])
        raise RuntimeError(f"no master serves slot {slot}")

    def _node(self, address: str) -> RedisServer:
        port = int(address.split("@")[0].rsplit(":", 1)[1])
        return next(n for n in self.nodes if n.port == port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
