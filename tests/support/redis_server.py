"""Real redis-server processes for tests and benchmarks: each on a free loopback port, in its own
temporary directory, torn down afterwards. Never the shared Redis on 6379, never a fake."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "redis-server not found: apt-get install -y redis-server"


class RedisMissing(RuntimeError):
    pass


def require_binaries() -> None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        raise RedisMissing(INSTALL_HINT)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(cluster_bus: bool = False) -> int:
    """A free loopback port (and port + 10000 free too when ``cluster_bus``)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port == 6379 or (cluster_bus and (port + 10000 > 65535 or not _port_free(port + 10000))):
            continue
        return port
    raise RuntimeError("no free loopback port found")


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


class RedisServer:
    """``with RedisServer() as server: server.url``"""

    def __init__(self, *extra: str, cluster: bool = False, password: str | None = None) -> None:
        require_binaries()
        self.extra = list(extra)
        self.cluster = cluster
        self.password = password
        self.port = 0
        self.dir = Path(tempfile.mkdtemp(prefix="gdw-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        for _ in range(5):
            self.port = free_port(self.cluster)
            cmd = [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--logfile", str(self.dir / f"redis-{self.port}.log"),
            ]  # fmt: skip
            if self.cluster:
                cmd += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            if self.password:
                cmd += ["--requirepass", self.password]
            self.proc = subprocess.Popen([*cmd, *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            self.stop(cleanup=False)
        raise RuntimeError(f"redis-server did not start; see logs in {self.dir}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            args = ["-a", self.password, "--no-auth-warning", "ping"] if self.password else ["ping"]
            if _cli(self.port, *args) == "PONG":
                return True
            time.sleep(0.02)
        return False

    def cli(self, *args: str) -> str:
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        return _cli(self.port, *auth, *args)

    def stop(self, cleanup: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if cleanup:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisCluster:
    """Three primaries (no replicas) on loopback, joined with ``redis-cli --cluster create``."""

    def __init__(self, nodes: int = 3) -> None:
        require_binaries()
        self.servers = [RedisServer(cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def start(self) -> RedisCluster:
        for s in self.servers:
            s.start()
        addrs = [f"127.0.0.1:{s.port}" for s in self.servers]
        out = subprocess.run(
            ["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout} {out.stderr}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in s.cli("cluster", "info") for s in self.servers):
                return self
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def flushall(self) -> None:
        for s in self.servers:
            s.cli("flushall")

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
