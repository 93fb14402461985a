"""``gdw submit``'s flow-control flags against a real redis-server: each reaches the stored record,
and bad values are one clear error with nothing enqueued."""

from __future__ import annotations

import json
import time

import pytest
import redis
from typer.testing import CliRunner

from gdw_core.cli.app import app

pytestmark = pytest.mark.redis


def submit(runner: CliRunner, url: str, *flags: str) -> tuple[int, dict[str, object] | None, str]:
    result = runner.invoke(app, ["submit", "demo_tasks:fast", "--json", *flags, "--redis", url])
    doc = json.loads(result.stdout)["submitted"] if result.exit_code == 0 else None
    return result.exit_code, doc, result.stderr


def test_limits_expiry_and_result_ttl_reach_the_record(runner: CliRunner, redis_url: str) -> None:
    before = time.time()
    code, rec, err = submit(runner, redis_url, "--limit", "stripe", "--limit", "customer:42", "--expires", "10m",
                            "--result-ttl", "1h")  # fmt: skip
    assert code == 0, err
    assert rec is not None and rec["limits"] == ["stripe", "customer:42"] and rec["result_ttl"] == 3600.0
    expires_at = float(rec["expires_at"])  # type: ignore[arg-type]
    assert before + 600 - 5 <= expires_at <= time.time() + 600 + 5


def test_unique_for_returns_the_first_id(runner: CliRunner, redis_url: str) -> None:
    code, first, err = submit(runner, redis_url, "--unique-for", "60s", "--unique-key", "invoice-7")
    assert code == 0 and first is not None, err
    code, second, err = submit(runner, redis_url, "--unique-for", "60s", "--unique-key", "invoice-7")
    assert code == 0 and second is not None, err
    assert second["id"] == first["id"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--expires", "2001-01-01T00:00:00+00:00"), "in the past"),
        (("--expires", "whenever"), "--expires"),
        (("--unique-for", "0s"), "more than zero"),
        (("--debounce", "soon"), "--debounce"),
        (("--result-ttl", "-5s"), "--result-ttl"),
        (("--limit", "no spaces allowed"), "limit"),
    ],
)
def test_bad_flow_flags_are_one_error_and_nothing_is_enqueued(
    runner: CliRunner, redis_url: str, flags: tuple[str, ...], words: str
) -> None:
    code, rec, err = submit(runner, redis_url, *flags)
    assert code == 2 and rec is None
    errors = [line for line in err.splitlines() if line.startswith("gdw: error:")]
    assert len(errors) == 1 and words in errors[0], err
    client = redis.Redis.from_url(redis_url)
    try:
        assert not [k for k in client.scan_iter() if b":t:" in k]  # no task record was written
    finally:
        client.close()
