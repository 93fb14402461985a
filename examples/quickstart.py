"""The go_do_work quick start, in Python: a worker pool, a delayed task, an at-time task, a
recurring one, retries with exponential backoff, statuses, and a graceful shutdown.

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from gdw_core import RetryPolicy, RetryStrategy, TaskQueue


async def fetch_page(url: str) -> int:
    """Pretend to fetch a page; fails now and then, so retries show."""
    await asyncio.sleep(random.uniform(0.05, 0.2))
    if random.random() < 0.3:
        raise TimeoutError(f"{url} took too long")
    return len(url) * 100


async def report(title: str) -> str:
    return f"report {title!r} written"


beats = 0


async def heartbeat() -> None:
    global beats
    beats += 1


async def main() -> None:
    queue = TaskQueue(
        worker_count=5,
        queue_size=200,
        buffer_size=150,
        retry_policy=RetryPolicy(
            max_retries=5,
            base_delay=0.1,
            max_delay=2,
            strategy=RetryStrategy.EXPONENTIAL,
            should_retry=lambda exc: isinstance(exc, TimeoutError),
        ),
    )
    async with queue:
        ids = [await queue.submit(fetch_page, f"https://example.org/{n}") for n in range(5)]
        later = await queue.schedule(fetch_page, 0.5, "https://example.org/later")
        at = await queue.schedule_at(report, datetime.now(UTC) + timedelta(seconds=0.3), "daily")
        every = await queue.schedule_recurring(heartbeat, interval=0.2)

        print("right after submit:")
        for task_id in [*ids, later, at]:
            info = await queue.status(task_id)
            print(f"  {task_id[:8]}  {info.name:<22} {info.status}")

        for task_id in [*ids, later, at]:
            await queue.wait(task_id, timeout=30)
        await queue.cancel_recurring(every)

        print("\nafter they ran:")
        for task_id in [*ids, later, at]:
            info = await queue.status(task_id)
            errors = "; ".join(str(e) for e in info.errors) or "-"
            print(
                f"  {task_id[:8]}  {info.status:<10} attempts={info.attempts}  result={info.result!r}  errors={errors}"
            )
        print(
            f"\nheartbeat ran {beats} times; counts: "
            + ", ".join(f"{k}={v}" for k, v in (await queue.inspect.counts()).items() if v)
        )
        await queue.shutdown(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
