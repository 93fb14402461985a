"""The ``gdw-tui`` command line."""

from __future__ import annotations

import pytest

from gdw_tui.__main__ import main, parser


def test_options() -> None:
    ns = parser().parse_args(["--redis", "localhost:6379", "--queue", "images", "--read-only"])
    assert (ns.redis, ns.queue, ns.read_only, ns.demo) == ("localhost:6379", "images", True, False)
    assert parser().parse_args(["--demo"]).demo


def test_demo_and_redis_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--demo", "--redis", "localhost:6379"])


def test_no_source_says_how(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GDW_REDIS_URL", raising=False)
    assert main([]) == 2
    assert "--demo" in capsys.readouterr().err
