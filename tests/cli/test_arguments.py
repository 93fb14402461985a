"""How typed arguments become task arguments, and what is refused."""

from __future__ import annotations

import pytest

from gdw_core import RetryStrategy
from gdw_core.cli import arguments
from gdw_core.cli.exitcodes import CliError, ExitCode


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("2.5", 2.5),
        ("true", True),
        ("null", None),
        ('"x"', "x"),
        ("[1,2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("photo.jpg", "photo.jpg"),
        ("hello world", "hello world"),
        ("NaN", "NaN"),  # not JSON: stays text
        ("Infinity", "Infinity"),
        ("", ""),
    ],
)
def test_positional_is_json_when_it_is_json(text: str, value: object) -> None:
    assert arguments.literal(text) == value


def test_kw_text_and_json() -> None:
    args, kwargs = arguments.call_arguments(
        ["photo.jpg"], ["mode=fast", "width:=800", 'tags:=["a"]', "s=1"], None, None
    )
    assert args == ["photo.jpg"]
    assert kwargs == {"mode": "fast", "width": 800, "tags": ["a"], "s": "1"}


def test_kw_value_may_hold_equals_signs() -> None:
    assert arguments.keyword("query=a=b") == ("query", "a=b")


def test_args_and_kwargs_json() -> None:
    args, kwargs = arguments.call_arguments([], ["b:=2"], '[1, "x"]', '{"a": 1}')
    assert args == [1, "x"]
    assert kwargs == {"a": 1, "b": 2}


def _error(func: object, *a: object) -> CliError:
    with pytest.raises(CliError) as info:
        func(*a)  # type: ignore[operator]
    return info.value


def test_bad_json_says_where() -> None:
    err = _error(arguments.call_arguments, [], [], "[1, 2 3]", None)
    assert err.code is ExitCode.USAGE
    assert "--args" in err.message and "column 7" in err.message and "delimiter" in err.message


@pytest.mark.parametrize(
    ("positional", "kw", "args_json", "kwargs_json", "needle"),
    [
        (["1"], [], "[2]", None, "not both"),
        ([], [], '{"a": 1}', None, "JSON array"),
        ([], [], None, "[1]", "JSON object"),
        ([], ["novalue"], None, None, "key=value"),
        ([], ["1x=3"], None, None, "not a valid argument name"),
        ([], ["a=1", "a=2"], None, None, "given twice"),
        ([], ["a:={"], None, None, "--kw a:="),
        ([], [], None, '{"not valid": 1}', "not a Python identifier"),
    ],
)
def test_bad_arguments_are_usage_errors(
    positional: list[str], kw: list[str], args_json: str | None, kwargs_json: str | None, needle: str
) -> None:
    err = _error(arguments.call_arguments, positional, kw, args_json, kwargs_json)
    assert err.code is ExitCode.USAGE
    assert needle in err.message


@pytest.mark.parametrize("name", ["demo_tasks:resize", "pkg.mod:Class.method", " a:b "])
def test_good_names(name: str) -> None:
    assert arguments.task_name(name) == name.strip()


@pytest.mark.parametrize("name", ["resize", "a:", ":b", "a b:c", "a:b:c", "1a:b", "os.system('x')"])
def test_bad_names(name: str) -> None:
    assert "module:function" in _error(arguments.task_name, name).message


def test_durations() -> None:
    assert arguments.duration("500ms", "--in") == 0.5
    assert arguments.duration("1m30s", "--in") == 90
    assert arguments.duration(None, "--in") is None
    assert "--in" in _error(arguments.duration, "soon", "--in").message
    assert "more than zero" in _error(lambda: arguments.duration("0s", "--every", positive=True)).message


def test_times() -> None:
    assert arguments.future_time("2999-01-01T00:00:00Z") is not None
    assert "in the past" in _error(arguments.future_time, "2001-01-01T00:00:00Z").message
    assert "no zone" in _error(arguments.future_time, "2999-01-01T00:00:00").message
    assert "ISO 8601" in _error(arguments.future_time, "tomorrow").message


def test_cron() -> None:
    assert arguments.cron("*/5 * * * *") == "*/5 * * * *"
    assert "--cron" in _error(arguments.cron, "every day").message


def test_retry_policy() -> None:
    assert arguments.retry_policy(None, None, None, None) is None
    policy = arguments.retry_policy(5, "exponential", 2.0, None)
    assert policy is not None
    assert (policy.max_retries, policy.strategy, policy.base_delay) == (5, RetryStrategy.EXPONENTIAL, 2.0)
    big = arguments.retry_policy(None, None, 120.0, None)  # a base above the default cap raises the cap
    assert big is not None and big.max_delay == 120.0
    assert "--backoff" in _error(arguments.retry_policy, None, "random", None, None).message
    assert "--max-delay" in _error(arguments.retry_policy, None, None, 10.0, 5.0).message
    assert "--retries" in _error(arguments.retry_policy, -1, None, None, None).message
