"""The Redis payload (``d`` field) built from cached fragments is the same text as the whole-dict
encoding, for every field combination, and cached fragments never outlive a change."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gdw_core.errors import InvalidPayload
from gdw_core.record import TaskRecord
from gdw_core.storage.redis import encoding


def _random_record(rnd: random.Random, i: int) -> TaskRecord:
    pick = rnd.choice
    fields: dict[str, Any] = dict(  # deliberately loose types: bools for ints, tuples for lists
        id=f"t{i}",
        name=pick(["m:f", "a.b:c", "ü:ö"]),
        args=pick([[], [1], ["x", {"a": 1}], (), (1, 2)]),
        kwargs=pick([{}, {"a": 1}, {"é": [None, '\u2028"\\']}]),
        queue=pick(["default", "q2"]),
        priority=pick([0, 1, True, 5]),
        max_retries=pick([3, 0, False]),
        retry=pick([None, {"max_retries": 3, "base_delay": 1.0}, {"a": [1, 2]}]),
        timeout=pick([None, 30, 30.0, 0.5, True]),
        recurring_id=pick([None, "rec-1"]),
        secret=pick([False, True, 0, 1]),
        traceparent=pick([None, "00-ab-cd-01"]),
        limits=pick([[], ["a", "b"]]),
        expires_at=pick([None, 5.5, 7]),
        result_ttl=pick([None, 60.0]),
        unique_key=pick([None, "k"]),
        unique_for=pick([None, 10.0]),
        debounce=pick([None, 1.0]),
    )
    return TaskRecord(**fields)


def test_cached_payload_is_the_whole_dict_encoding() -> None:
    rnd = random.Random(15)
    for i in range(3000):
        rec = _random_record(rnd, i)
        expected = encoding._static_json_dict(rec)
        assert encoding.static_json(rec) == expected
        assert encoding.static_json(rec) == expected  # the second time from the caches


def test_a_retry_dict_changed_in_place_is_encoded_again() -> None:
    shared: dict[str, Any] = {"max_retries": 3, "base_delay": 1.0, "extra": [1]}
    rec = TaskRecord(id="a", name="m:f", retry=shared)
    first = encoding.static_json(rec)
    shared["base_delay"] = 9.0
    second = encoding.static_json(rec)
    shared["extra"].append(2)  # nested, too
    third = encoding.static_json(rec)
    assert len({first, second, third}) == 3
    assert third == encoding._static_json_dict(rec)


@pytest.mark.parametrize("field", ["args", "kwargs", "timeout", "retry", "limits"])
@pytest.mark.parametrize("bad", [float("nan"), object(), {1, 2}])
def test_what_cannot_be_encoded_is_refused_with_a_reason(field: str, bad: Any) -> None:
    rec = TaskRecord(id="b", name="m:f")
    setattr(rec, field, {"k": bad} if field == "kwargs" else [bad] if field in ("args", "limits") else bad)
    with pytest.raises(InvalidPayload, match="task b"):
        encoding.static_json(rec)
