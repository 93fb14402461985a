"""Shared pieces of the benchmark harness: the Redis server it owns, running one system's driver
in that system's Python, and the Markdown table of medians with their spread."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.base import MARK, ROOT
from tests.support.redis_server import RedisServer

#: where ``benchmarks/peers-env.sh`` installs the peers, inside this checkout (docs/performance.md):
#: ``.bench/venv-<peer>`` if it exists (arq pins redis-py < 6, Celery needs >= 6.1), else this
PEER_VENV = Path(ROOT) / ".bench" / "venv"

__all__ = ["RedisServer", "machine", "peer_python", "run_driver", "spread", "table"]


def peer_python(peer: str, override: str | None = None) -> str:
    """``--peer-python``, else ``$BENCH_PYTHON_<PEER>``, else ``$BENCH_PEER_PYTHON``, else the
    peer's own venv, else the shared peer venv, else this Python."""
    for candidate in (override, os.environ.get(f"BENCH_PYTHON_{peer.upper()}"), os.environ.get("BENCH_PEER_PYTHON")):
        if candidate:
            return candidate
    for venv in (PEER_VENV.with_name(f"{PEER_VENV.name}-{peer}"), PEER_VENV):
        if (venv / "bin" / "python").exists():
            return str(venv / "bin" / "python")
    return sys.executable


def run_driver(python: str, system: str, job: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run ``benchmarks.peers.<system>`` for one scenario; its result dict (``{"error": ...}`` if
    it failed or could not start, e.g. the peer is not installed)."""
    env = {**os.environ, "BENCH_REDIS_URL": job["url"], "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(
            [python, "-m", f"benchmarks.peers.{system}", json.dumps(job)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"driver failed: {last}"[:200]}


def spread(values: Sequence[float], digits: int) -> str:
    """``median (min-max)``; rates in k/s get one decimal."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine(server: RedisServer) -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = server.cli("info", "server")
    redis_version = next((ln.split(":")[1] for ln in version.splitlines() if ln.startswith("redis_version")), "?")
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, Redis {redis_version.strip()}, "
        f"{platform.system()} {platform.release()}"
    )
