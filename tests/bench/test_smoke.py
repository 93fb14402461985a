"""The benchmark harness still runs end to end (tiny N, no timing assertions): it prints the
peers table with every scenario row, the scale and embedded tables, and a peer that cannot run
is reported as failed rather than left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import ROWS

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_harness_prints_every_row() -> None:
    # huey runs in this Python, where it is not installed: its cells must say "failed", not vanish
    env = {**os.environ, "BENCH_PYTHON_HUEY": sys.executable, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "benchmarks", "--n", "200", "--repeat", "1", "--peers", "huey",
           "--scale-n", "2000", "--embedded-n", "2000"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "| scenario | gdw | huey | best peer | gdw ÷ best peer |" in lines
    for label, *_ in ROWS:
        row = next((ln for ln in lines if ln.startswith(f"| {label} |")), None)
        assert row is not None, f"missing row {label!r}:\n{out.stdout}"
        gdw_cell, huey_cell = (c.strip() for c in row.split("|")[2:4])
        assert gdw_cell and not gdw_cell.startswith("failed"), row
        huey_installed = "ModuleNotFoundError" not in huey_cell
        assert huey_installed or huey_cell.startswith("failed"), row
    assert any(ln.startswith("| per pending task |") for ln in lines), out.stdout
    assert any(ln.startswith("| dashboard refresh at 2,000 pending, showing pending |") for ln in lines)
    assert any("÷ tight loop" in ln for ln in lines), out.stdout
    assert any(ln.startswith("| gdw: await submit() per call |") for ln in lines), out.stdout
