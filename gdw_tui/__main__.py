"""``gdw-tui``: the operator's dashboard.

gdw-tui --redis localhost:6379 [--queue Q] [--read-only]     (or GDW_REDIS_URL)
gdw-tui --demo                                              (embedded queue + demo workload)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gdw_core.queue import TaskQueue


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdw-tui", description="gdw's live terminal dashboard")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="Redis to watch: host:port, redis://, rediss:// (default: $GDW_REDIS_URL)",
    )
    source.add_argument("--demo", action="store_true", help="an embedded queue with demo tasks and a workload")
    p.add_argument("--redis-file", metavar="PATH", default=None, help="read the Redis URL from this file")
    p.add_argument("--namespace", default=None, help="key prefix of the deployment (default $GDW_NAMESPACE or gdw)")
    p.add_argument("--queue", default=None, help="show and act on this queue only")
    p.add_argument("--read-only", action="store_true", help="watch only: every action is off")
    p.add_argument("--rate", type=float, default=6.0, help="--demo: tasks submitted per second (default 6)")
    return p


def redis_queue(url: str, namespace: str | None = None) -> TaskQueue:
    """The dashboard's queue on Redis: no task slots, and a storage that says what is wrong at
    once (the dashboard re-reads every second anyway) rather than reconnecting with backoff while
    the screen stays blank."""
    from gdw_core.storage.redis import RedisStorage, fail_fast

    return TaskQueue(worker_count=0, storage=RedisStorage.from_url(url, namespace=namespace, **fail_fast()))


def main(argv: Sequence[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    from gdw_tui.app import GdwApp
    from gdw_tui.demo import DemoWorkload, demo_queues

    if ns.demo:
        queue, peer = demo_queues()
        app = GdwApp(queue, queue_name=ns.queue, read_only=ns.read_only, demo=DemoWorkload(queue, peer, ns.rate))
    else:
        from gdw_core.storage.redis.address import url_from_environment

        url = ns.redis or url_from_environment(ns.redis_file)
        if not url:
            print("gdw-tui: give --redis URL (or set GDW_REDIS_URL), or try --demo", file=sys.stderr)
            return 2
        try:
            queue = redis_queue(url, ns.namespace)
        except ImportError as exc:
            print(f"gdw-tui: Redis storage is not available: {exc}", file=sys.stderr)
            return 2
        app = GdwApp(queue, queue_name=ns.queue, read_only=ns.read_only)
    app.run()
    # an unhandled error inside the app sets a non-zero return code: pass it on
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
