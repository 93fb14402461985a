from __future__ import annotations

import random

import pytest

from gdw_core import InvalidSchedule, RetryPolicy, RetryStrategy


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RetryStrategy.FIXED, [2.0, 2.0, 2.0, 2.0, 2.0]),
        (RetryStrategy.LINEAR, [2.0, 4.0, 6.0, 8.0, 10.0]),
        (RetryStrategy.EXPONENTIAL, [2.0, 4.0, 8.0, 10.0, 10.0]),
        (RetryStrategy.IMMEDIATE, [0.0, 0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_delays_follow_the_strategy_capped_at_max(strategy: RetryStrategy, expected: list[float]) -> None:
    policy = RetryPolicy(max_retries=5, base_delay=2.0, max_delay=10.0, strategy=strategy)
    assert [policy.delay(n) for n in range(1, 6)] == expected
    assert policy.plan() == expected
    assert policy.plan(after_retry=3) == expected[3:]


def test_linear_caps_too() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=3, max_delay=7, strategy="linear")  # type: ignore[arg-type]
    assert [policy.delay(n) for n in (1, 2, 3)] == [3, 6, 7]


def test_defaults_match_the_go_library() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.base_delay, policy.max_delay, policy.strategy) == (
        3,
        1.0,
        60.0,
        RetryStrategy.FIXED,
    )
    assert policy.max_attempts == 4


def test_exponential_does_not_overflow_for_huge_retry_numbers() -> None:
    policy = RetryPolicy(max_retries=5000, base_delay=1, max_delay=30, strategy=RetryStrategy.EXPONENTIAL)
    assert policy.delay(4000) == 30


def test_jitter_stays_within_its_band_and_the_cap() -> None:
    policy = RetryPolicy(base_delay=10, max_delay=11, jitter=0.5)
    rng = random.Random(7)
    values = [policy.delay(1, rng) for _ in range(500)]
    assert all(5 <= v <= 11 for v in values)
    assert min(values) < 7 and max(values) == pytest.approx(11, abs=0.5)
    assert len(set(values)) > 100


def test_should_retry_predicate() -> None:
    policy = RetryPolicy(should_retry=lambda exc: isinstance(exc, TimeoutError))
    assert policy.allows(TimeoutError()) is True
    assert policy.allows(ValueError()) is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_delay": 1, "base_delay": 2},
        {"max_retries": -1},
        {"base_delay": -1},
        {"jitter": 2},
        {"max_retries": 1.5},
        {"strategy": "sometimes"},
        {"should_retry": 3},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((InvalidSchedule, ValueError)):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_dict_round_trip_keeps_everything_but_the_predicate() -> None:
    policy = RetryPolicy(4, 0.5, 30, RetryStrategy.EXPONENTIAL, 0.1)
    again = RetryPolicy.from_dict(policy.to_dict())
    assert again == policy
    with pytest.raises(InvalidSchedule):
        RetryPolicy.from_dict({"max_retries": "x"})
