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
            port = free_port()
            conf = self.tmp / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.tmp}\nlogfile {self.tmp}/sentinel-{i}.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            proc = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.sentinels.append((port, proc))
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
