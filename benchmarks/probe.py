"""Instrumentation inside every system's benchmark tasks, so all systems are timed the same way
without a result backend and without an extra round trip per task.

* ``done()`` (end of a no-op / sleep task): counts in process memory; a daemon thread publishes
  ``count first last`` (epoch seconds of the first and the latest finish) to
  ``bench:done:<pid>`` every few milliseconds (and names that key once in the set ``bench:done``, so the
  driver reads the counters without scanning the keyspace: a SCAN over a backlog of 20k task keys every
  20 ms cost Redis more CPU than the tasks themselves and was counted as theirs).
  The drain rate is ``n / (last - first)`` over all worker processes: worker start-up is not
  counted, and neither is the polling resolution.
* ``started(i)`` (the latency task): takes the wall clock as the task starts, then ``RPUSH``es
  ``"i time"`` to ``bench:lat``; the driver matches it with the time it submitted probe ``i``.

Needs only redis-py (sync), so it imports in every system's environment.
"""

from __future__ import annotations

import os
import threading
import time

import redis

DONE_PREFIX = "bench:done:"
DONE_SET = "bench:done"
LAT_KEY = "bench:lat"
#: how often the reporter thread publishes the counter
PUBLISH_EVERY = 0.005

_lock = threading.Lock()
_count = 0
_first = 0.0
_last = 0.0
_pid = 0
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _client


def _publish() -> None:
    key = f"{DONE_PREFIX}{os.getpid()}"
    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    sent = -1
    while True:
        time.sleep(PUBLISH_EVERY)
        with _lock:
            count, first, last = _count, _first, _last
        if count != sent:
            try:
                if sent < 0:
                    client.sadd(DONE_SET, key)
                client.set(key, f"{count} {first!r} {last!r}")
                sent = count
            except redis.RedisError:
                pass


def done() -> None:
    global _count, _first, _last, _pid
    now = time.time()
    with _lock:
        if _pid != os.getpid():  # first call in this process (or a forked child)
            _pid = os.getpid()
            _count = 0
            threading.Thread(target=_publish, name="bench-probe", daemon=True).start()
        if not _count:
            _first = now
        _count += 1
        _last = now


def started(i: int) -> None:
    now = time.time()
    _redis().rpush(LAT_KEY, f"{i} {now!r}")


def read_done(client: redis.Redis) -> tuple[int, float, float]:
    """(tasks finished, first finish, last finish) over every worker process."""
    total, first, last = 0, float("inf"), 0.0
    keys = sorted(client.smembers(DONE_SET))
    for raw in client.mget(keys) if keys else []:
        if not raw:
            continue
        count, f, la = raw.decode().split()
        total += int(count)
        if int(count):
            first = min(first, float(f))
            last = max(last, float(la))
    return total, first, last
