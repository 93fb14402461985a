"""The real terminal at 80x24: ``gdw-tui --demo`` in tmux; submit a task from the form and drain
the peer worker from the drain dialog, reading the screen as an operator would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, session: str) -> None:
        self.session = session

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def text(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_for(self, found: Callable[[str], bool], timeout: float = 30.0) -> str:
        """Until the screen shows it (a generous 'it happened' guard, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if found(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"never shown; last screen:\n{screen}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = f"gdw-tui-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m gdw_tui --demo --rate 1"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True, env=env)
    t = Tmux(session)
    try:
        yield t
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


def test_submit_and_drain_at_80x24(tmux: Tmux) -> None:
    screen = tmux.wait_for(lambda s: "connected" in s and "workers: 2 live" in s)
    # the essential keys are in the footer at 80 columns
    for key in ("s Submit", "c Cancel", "d Drain", "/ Filter", "q Quit", "? Help"):
        assert key in screen
    tmux.keys("s")
    tmux.wait_for(lambda s: "Submit a task" in s)
    tmux.text('["from tmux"]')
    tmux.wait_for(lambda s: "1 arg(s)" in s)
    tmux.keys("C-s")
    tmux.wait_for(lambda s: "submitted" in s and "Submit a task" not in s)
    tmux.keys("d")
    tmux.wait_for(lambda s: "Shut down workers" in s)
    # the worker selected in the workers table (the first) is preselected, not "all workers"
    tmux.wait_for(lambda s: "will shut down: worker" in s)
    tmux.keys("C-d")  # Drain
    tmux.wait_for(lambda s: "asked worker" in s or "draining" in s)
    tmux.wait_for(lambda s: "workers: 1 live" in s, timeout=60)
    tmux.keys("q")
