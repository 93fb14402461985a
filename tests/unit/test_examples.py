"""The README's quick start runs as a real process and prints statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_runs_and_every_task_ends_completed() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    before, after = out.split("after they ran:")
    assert before.count("pending") + before.count("scheduled") + before.count("running") == 7
    assert after.count("  completed  ") == 7
    assert "heartbeat ran" in after
