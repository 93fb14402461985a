"""The prelude's number formatting (fmt, and the integer scores of leases and finished tasks) is
built from cached pieces instead of string.format: it must give exactly string.format's text for
every number, including halfway cases, carries into the next second, and numbers outside the
range the pieces cover. Checked in a real Redis, against Lua's string.format and Python's %."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from gdw_core.storage.redis.scripts import prelude
from tests.support.redis_server import RedisServer

# (a bare script runs the prelude's helpers without `run`: it reads the globals itself first)
COMPARE = """
load_globals()
local out = {}
for i, a in ipairs(ARGV) do
  local x = tonumber(a)
  out[#out + 1] = fmt(x)
  out[#out + 1] = string.format('%.6f', x)
end
return out
"""

INTEGERS = """
load_globals()
local out = {}
for i, a in ipairs(ARGV) do
  local n = tonumber(a)
  out[#out + 1] = MS(n)
  out[#out + 1] = US(n)
  out[#out + 1] = string.format('%d', n)
end
return out
"""


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()


def _ties() -> list[float]:
    """Times whose fraction is exactly halfway between two microseconds: in [2^30, 2^31) a double
    steps by 2^-22 s, and 1e6 * 2^-22 = 15625 / 65536, so k * 15625 = 32768 (mod 65536)."""
    k0 = next(k for k in range(65536) if k * 15625 % 65536 == 32768)
    return [2**30 + (k0 + j * 65536) * 2**-22 for j in range(0, 64, 3)]


def _values() -> list[float]:
    rng = random.Random(20261203)
    values = [rng.uniform(1.6e9, 2.2e9) for _ in range(3000)]
    values += [rng.uniform(2**20, 2**32) for _ in range(1000)]
    values += [rng.randrange(1_700_000_000, 1_800_000_000) + rng.randrange(0, 1_000_000) / 1e6 for _ in range(1000)]
    values += [s + 0.9999995 for s in (1_700_000_000.0, 2**20 + 1.0, 4_000_000_000.0)]  # carry into the next second
    values += [1_750_000_123.0 + d for d in (0.0, 1e-7, 4.9e-7, 5e-7, 5.1e-7, 0.0005, 0.999999, 0.9999999)]
    values += _ties()
    values += [2.0**20, 2.0**20 - 1e-9, 2.0**32, 2.0**32 - 2**-21, 0.0, -0.0, 0.5, 1e-7, 3.25, 12345.678901]
    values += [-1.5, -1_700_000_000.123456, 1e15 + 0.5, 1e300, rng.uniform(0, 1000), rng.uniform(1000, 2**20)]
    return values


def _chunks(values: list[float], size: int = 500) -> Iterator[list[float]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def test_fmt_is_string_format_for_every_number(client: redis.Redis) -> None:
    script = prelude() + "\n" + COMPARE
    ties = set(_ties())
    checked = 0
    for chunk in _chunks(_values()):
        got = client.eval(script, 0, *[repr(v) for v in chunk])
        for i, v in enumerate(chunk):
            ours, lua = got[2 * i], got[2 * i + 1]
            assert ours == lua, (v, ours, lua)
            assert ours == f"{v:.6f}", (v, ours)
            checked += 1
    assert checked > 5000 and len(ties) > 10
    # the halfway cases really are halfway, and printf rounds them to the even microsecond
    for v in ties:
        micros = (v - int(v)) * 1e6
        assert micros - int(micros) == 0.5
        assert int((f"{v:.6f}")[-1]) % 2 == 0


def test_integer_scores_are_string_format_for_every_integer(client: redis.Redis) -> None:
    rng = random.Random(7)
    ints = [rng.randrange(1_600_000_000_000, 2_200_000_000_000) for _ in range(600)]  # lease deadlines (ms)
    ints += [rng.randrange(1_600_000_000_000_000, 2_200_000_000_000_000) for _ in range(600)]  # finished (µs)
    base = 1_750_000_000_000
    ints += [base + d for d in range(-3, 1004)]  # a run of one call: the cached thousands change
    ints += [0, 7, 999, 1000, 1001, 1999, 2000, 10**6, 2**53 - 1]
    script = prelude() + "\n" + INTEGERS
    for chunk in _chunks([float(n) for n in ints], 400):
        got = client.eval(script, 0, *[str(int(v)) for v in chunk])
        for i, v in enumerate(chunk):
            ms, us, lua = got[3 * i : 3 * i + 3]
            assert ms == us == lua == str(int(v)), (v, ms, us, lua)
