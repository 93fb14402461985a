"""Tasks run by the real ``gdw worker`` processes of the workflow fault tests. The chord callback
appends one line per execution to ``$GDW_WF_LOG/callback-<pid>.log`` (O_APPEND, one write), a log
outside the Redis under test, so a second run of it cannot hide."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from gdw_core import RetryPolicy, task

#: a member killed with its worker is re-run after its lease expires (attempts are spent on it)
RETRY = RetryPolicy(max_retries=5, base_delay=0.05, max_delay=0.2)


@task(retry=RETRY)
async def member(i: int, pause: float = 0.02) -> int:
    await asyncio.sleep(pause)
    return i * i


@task(retry=RETRY)
async def callback(results: list[Any], key: str) -> int:
    line = json.dumps({"key": key, "pid": os.getpid(), "n": len(results), "results": results})
    fd = os.open(
        os.path.join(os.environ["GDW_WF_LOG"], f"callback-{os.getpid()}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    return len(results)
