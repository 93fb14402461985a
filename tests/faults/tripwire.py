"""A module no worker of the suite imports. If anything ever imports it because a task message
named it, it leaves a mark in the execution-log directory, and the garbage scenario fails."""

import os
from pathlib import Path

_dir = os.environ.get("GDW_FAULT_LOG")
if _dir:
    (Path(_dir) / "tripwire-imported").write_text(str(os.getpid()))


def run() -> None:
    Path(_dir or ".", "tripwire-ran").write_text(str(os.getpid()))
