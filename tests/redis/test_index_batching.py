"""The hot scripts (claim, start, complete) defer their index writes and send them as one ZREM and
one ZADD per index (``ix_flush`` in _prelude.lua). Whatever the sequence of moves in one call, the
indexes must end exactly as they do with one ZREM and one ZADD per move: checked in a real Redis
by running the same random sequences of allowed moves both ways, on two prefixes."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from gdw_core.lifecycle import INDEX
from gdw_core.status import TERMINAL, TRANSITIONS, TaskStatus
from gdw_core.storage.redis.scripts import prelude
from tests.support.redis_server import RedisServer

# ARGV: prefix, queue, the common 3..5, 'later' or 'now', then triples id, old, new (the score is the step number)
MOVES = """
load_globals()
begin_call(ARGV)
IX_LATER = ARGV[6] == 'later'
local out = {}
for i = 7, #ARGV, 3 do
  local ok = move(ARGV[i], ARGV[i + 1], ARGV[i + 2], tostring(i), nil, 'fn', 'w1', 1, {set = {'x', '1'}})
  out[#out + 1] = ok and 1 or 0
end
end_call()
return out
"""

# what the prelude's common arguments 3..5 hold (events kept, completed and failed kept): large,
# so retention deletes nothing here
COMMON = ["1000", "100000", "100000"]


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()


def _sequence(rng: random.Random, ids: list[str], steps: int) -> tuple[dict[str, TaskStatus], list[str]]:
    """Starting statuses and `steps` allowed moves among them (a task may move many times)."""
    start = {i: rng.choice([TaskStatus.PENDING, TaskStatus.CLAIMED, TaskStatus.RUNNING]) for i in ids}
    now = dict(start)
    args: list[str] = []
    for _ in range(steps):
        live = [i for i in ids if now[i] not in TERMINAL]
        if not live:
            break
        i = rng.choice(live)
        choices = sorted(TRANSITIONS[now[i]], key=str)
        new = rng.choice(choices)
        args += [i, now[i].value, new.value]
        now[i] = new
    return start, args


def _indexes(client: redis.Redis, prefix: str) -> dict[str, list[tuple[str, float]]]:
    return {s.value: client.zrange(prefix + INDEX[s], 0, -1, withscores=True) for s in TaskStatus}


def _seed(client: redis.Redis, prefix: str, start: dict[str, TaskStatus]) -> None:
    for n, (i, st) in enumerate(start.items()):
        client.hset(prefix + "t:" + i, mapping={"st": st.value, "n": "fn"})
        client.zadd(prefix + INDEX[st], {i: n})


@pytest.mark.parametrize("seed", range(12))
def test_deferred_index_writes_end_as_one_command_per_move(client: redis.Redis, seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"t{k}" for k in range(rng.choice([1, 2, 3, 8, 40]))]
    start, args = _sequence(rng, ids, rng.choice([5, 30, 120]))
    script = prelude() + "\n" + MOVES
    got = {}
    for mode in ("now", "later"):
        prefix = f"gdw:{{q{seed}{mode}}}:"
        _seed(client, prefix, start)
        out = client.eval(script, 0, prefix, f"q{seed}{mode}", *COMMON, mode, *args)
        assert all(v == 1 for v in out)
        got[mode] = _indexes(client, prefix)
    assert got["later"] == got["now"]


def test_a_long_run_of_claims_is_sent_in_parts(client: redis.Redis) -> None:
    """More members than one deferred list holds (IX_MAX): every one of them still moves."""
    ids = [f"t{k}" for k in range(450)]
    prefix = "gdw:{long}:"
    _seed(client, prefix, dict.fromkeys(ids, TaskStatus.PENDING))
    args: list[str] = []
    for i in ids:
        args += [i, "pending", "claimed"]
    out = client.eval(prelude() + "\n" + MOVES, 0, prefix, "long", *COMMON, "later", *args)
    assert out == [1] * 450
    assert client.zcard(prefix + INDEX[TaskStatus.PENDING]) == 0
    assert client.zcard(prefix + INDEX[TaskStatus.CLAIMED]) == 450
