"""Save an SVG screenshot of the live demo (for the docs):

    python -m gdw_tui.screenshot docs/dashboard.svg [--seconds 12] [--keys 4]

Runs ``gdw-tui --demo`` headless at 160x45 for a while so workers, throughput and retries have
something to show, presses the given keys, and writes the screen as SVG."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gdw_tui.app import GdwApp
from gdw_tui.demo import DemoWorkload, demo_queues


async def capture(path: Path, seconds: float, keys: list[str], size: tuple[int, int] = (160, 45)) -> None:
    queue, peer = demo_queues()
    app = GdwApp(queue, demo=DemoWorkload(queue, peer, rate=8.0))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(seconds)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.5)
        app.save_screenshot(filename=path.name, path=str(path.parent))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m gdw_tui.screenshot")
    p.add_argument("output", type=Path)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--keys", nargs="*", default=[])
    ns = p.parse_args()
    asyncio.run(capture(ns.output, ns.seconds, ns.keys))


if __name__ == "__main__":
    main()
