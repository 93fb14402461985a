from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gdw_core import InvalidPayload, InvalidSchedule, TaskRecord
from gdw_core.codec import check_args, dumps, loads
from gdw_core.duration import format_duration, parse_duration, parse_time
from gdw_core.recurring import RecurringEntry, check_cron, cron_next, tick_id


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("90", 90),
        ("1m30s", 90),
        ("0.25", 0.25),
        (timedelta(minutes=2), 120),
        (3, 3.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "abc", "5x", "-3", "1.2.3s", "s5", "nan", "inf", "5m junk"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(InvalidSchedule):
        parse_duration(text)


def test_times_need_a_zone() -> None:
    assert parse_time("2026-12-01T09:00:00Z") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(InvalidSchedule, match="no zone"):
        parse_time("2026-12-01T09:00:00")
    with pytest.raises(InvalidSchedule, match="ISO 8601"):
        parse_time("tomorrow")


def test_format_duration() -> None:
    assert format_duration(12) == "00:12"
    assert format_duration(754.2) == "12:35"
    assert format_duration(3723) == "1:02:03"


def test_cron_validation_and_next_times() -> None:
    assert check_cron(" */5 * * * * ") == "*/5 * * * *"
    with pytest.raises(InvalidSchedule):
        check_cron("not a cron")
    with pytest.raises(InvalidSchedule):
        check_cron("61 * * * *")
    base = datetime(2026, 1, 1, 0, 2, tzinfo=UTC).timestamp()
    assert cron_next("*/5 * * * *", base) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC).timestamp()


def test_recurring_entry_arithmetic() -> None:
    e = RecurringEntry(id="e", name="m:f", interval=10, next_run=100)
    assert e.following(100, 100) == 110
    assert e.following(100, 135) == 140  # missed ticks are skipped, not replayed
    assert e.upcoming(3) == [100, 110, 120]
    with pytest.raises(InvalidSchedule):
        RecurringEntry(id="e", name="m:f")
    with pytest.raises(InvalidSchedule):
        RecurringEntry(id="e", name="m:f", interval=-1)
    assert tick_id("e", 1.2345) == "e@1234" or tick_id("e", 1.2345) == "e@1235"


def test_codec_refuses_what_json_cannot_carry() -> None:
    assert loads(dumps({"a": [1, "é"]})) == {"a": [1, "é"]}
    with pytest.raises(InvalidPayload):
        dumps({"a": object()})
    with pytest.raises(InvalidPayload):
        dumps(float("nan"))
    with pytest.raises(InvalidPayload, match="not valid JSON"):
        loads("{truncated")
    with pytest.raises(InvalidPayload):
        check_args([{1, 2}], {})


@pytest.mark.parametrize(
    "data",
    [
        [],
        "x",
        {"id": 1, "name": "m:f"},
        {"name": "m:f"},
        {"id": "a", "name": "m:f", "args": "notalist"},
        {"id": "a", "name": "m:f", "status": "weird"},
        {"id": "a", "name": "m:f", "kwargs": [1]},
    ],
)
def test_malformed_records_raise_invalid_payload(data: object) -> None:
    with pytest.raises(InvalidPayload):
        TaskRecord.from_dict(data)


def test_record_round_trip() -> None:
    r = TaskRecord(id="a", name="m:f", args=[1], kwargs={"x": 2}, priority=3, timeout=1.5, secret=True)
    assert TaskRecord.from_dict(loads(dumps(r.to_dict()))) == r
