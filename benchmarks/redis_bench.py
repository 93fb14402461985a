"""The Redis engine's own figures (issue 3): single and batch enqueue, drain with one worker
process at concurrency 10 (and 100, and 4 processes), idle and loaded latency — gdw only. This is
``python -m benchmarks --peers none --scenarios enqueue,drain,latency``; see benchmarks/__main__.py.

Usage: python benchmarks/redis_bench.py [--tasks 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.__main__ import main as harness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    return harness(["--peers", "none", "--scenarios", "enqueue,drain,latency",
                    "--n", str(args.tasks), "--repeat", str(args.runs)])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
