"""The moving parts of a fault scenario: a redis-server we can kill, freeze and restart on the same
port, and real ``gdw worker`` processes we can kill, freeze and signal."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.redis_server import free_port, require_binaries

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.faults.fault_tasks"
LEASE = 2.0  # seconds; short so that recovery is quick (the heartbeat renews at lease/3)


class FaultRedis:
    """A redis-server on a free loopback port that survives kill -9 / restart on that same port."""

    def __init__(self, *extra: str, aof: bool = False) -> None:
        require_binaries()
        self.extra = list(extra)
        self.aof = aof
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gdw-faults-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _cmd(self) -> list[str]:
        persist = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--save", "", *persist, "--daemonize", "no", "--logfile", str(self.dir / "redis.log"), *self.extra,
        ]  # fmt: skip

    def start(self) -> FaultRedis:
        for _ in range(5):
            self.proc = subprocess.Popen(self._cmd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self.wait_ready():
                return self
            self.kill9()
            self.port = free_port()
        raise RuntimeError(f"redis-server did not start; see {self.dir}")

    def wait_ready(self, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            if self.cli("ping") == "PONG":
                return True
            time.sleep(0.02)
        return False

    def restart(self) -> None:
        """Start again on the same port and directory (AOF replays what was acknowledged)."""
        assert self.proc is None or self.proc.poll() is not None
        self.proc = subprocess.Popen(self._cmd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert self.wait_ready(), f"redis-server did not restart on port {self.port}; see {self.dir}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # in case a scenario left it frozen
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)


class WorkerProc:
    """One ``gdw worker`` process."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.frozen = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)
            if sig == signal.SIGSTOP:
                self.frozen = True
            elif sig == signal.SIGCONT:
                self.frozen = False

    def kill9(self) -> None:
        self.send(signal.SIGKILL)
        self.proc.wait()

    async def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"worker {self.pid} still running after {timeout}s"
            await asyncio.sleep(0.02)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Workers:
    """Spawns and tracks the scenario's worker processes; kills leftovers at the end."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.all: list[WorkerProc] = []

    def spawn(
        self,
        concurrency: int = 4,
        lease: float = LEASE,
        shutdown_timeout: float = 10.0,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> WorkerProc:
        cmd = [
            sys.executable, "-m", "gdw_core.cli", "worker", TASKS, "--redis", self.url,
            "--concurrency", str(concurrency), "--lease", f"{lease:g}s",
            "--shutdown-timeout", f"{shutdown_timeout:g}s", *(extra or []),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GDW_FAULT_LOG": str(self.log_dir), **(env or {})}
        log = self.log_dir / f"worker-{len(self.all)}.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        w = WorkerProc(proc, log)
        self.all.append(w)
        return w

    def live(self) -> list[WorkerProc]:
        return [w for w in self.all if w.alive()]

    def outputs(self) -> str:
        return "\n".join(f"--- worker {w.pid} (rc {w.proc.returncode}) ---\n{w.output()[-3000:]}" for w in self.all)

    def cleanup(self) -> None:
        for w in self.all:
            if w.alive():
                w.send(signal.SIGCONT)
                w.proc.kill()
                w.proc.wait()


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.05) -> float:
    """Poll ``predicate`` until true; returns how long it took. Fails naming ``what``."""
    start = time.monotonic()
    while True:
        try:
            if await predicate():
                return time.monotonic() - start
        except (ConnectionError, OSError, TimeoutError):
            pass
        assert time.monotonic() - start < timeout, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(every)
