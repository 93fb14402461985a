from __future__ import annotations

import itertools

import pytest

from gdw_core import InvalidTransition, TaskStatus
from gdw_core.status import INITIAL, LEASED, TERMINAL, TRANSITIONS, WAITING, can_move, check_transition

S = TaskStatus


def test_table_covers_every_status_and_terminal_states_exit_only_by_a_rerun() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert TRANSITIONS[S.FAILED] == frozenset({S.PENDING})
    # a workflow node cancelled because of a parent goes back to blocked when that parent re-runs
    assert TRANSITIONS[S.CANCELLED] == frozenset({S.PENDING, S.BLOCKED})
    for status in TERMINAL:
        assert status.terminal


def test_the_lifecycle_paths_are_allowed() -> None:
    for path in (
        [S.SCHEDULED, S.PENDING, S.CLAIMED, S.RUNNING, S.COMPLETED],
        [S.PENDING, S.CLAIMED, S.RUNNING, S.RETRYING, S.PENDING, S.CLAIMED, S.RUNNING, S.FAILED],
        [S.PENDING, S.CANCELLED],
        [S.PENDING, S.CLAIMED, S.RUNNING, S.CANCELLED],
        [S.PENDING, S.CLAIMED, S.PENDING],  # a never-started task handed back
        [S.PENDING, S.CLAIMED, S.COMPLETED],  # start mark and outcome sent together
        [S.PENDING, S.CLAIMED, S.RETRYING],  # a claimed task whose lease expired
        [S.PENDING, S.CLAIMED, S.CANCELLED],
        [S.PENDING, S.THROTTLED, S.PENDING, S.CLAIMED],  # held back by a limit, then claimed
        [S.PENDING, S.THROTTLED, S.CANCELLED],
    ):
        for old, new in itertools.pairwise(path):
            check_transition("t", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.COMPLETED, S.PENDING),
        (S.FAILED, S.RUNNING),
        (S.RUNNING, S.PENDING),
        (S.PENDING, S.COMPLETED),
        (S.CANCELLED, S.RUNNING),
        (S.SCHEDULED, S.RUNNING),
        (S.PENDING, S.RUNNING),
        (S.RUNNING, S.CLAIMED),
        (S.SCHEDULED, S.CLAIMED),
        (S.RETRYING, S.CLAIMED),
        (S.CLAIMED, S.SCHEDULED),
        (S.RETRYING, S.RUNNING),
    ],
)
def test_backwards_and_skipping_moves_are_refused(old: TaskStatus, new: TaskStatus) -> None:
    assert not can_move(old, new)
    with pytest.raises(InvalidTransition, match=f"{old} -> {new}"):
        check_transition("t", old, new)


def test_only_a_claim_reaches_claimed_and_only_a_start_reaches_running() -> None:
    into = {new: {old for old, targets in TRANSITIONS.items() if new in targets} for new in TaskStatus}
    assert into[S.CLAIMED] == {S.PENDING}
    assert into[S.RUNNING] == {S.CLAIMED}


def test_waiting_states_fail_alone_when_unreadable() -> None:
    # an unreadable record found while waiting ends failed with its reason, wherever it is found
    for status in WAITING | LEASED:
        assert can_move(status, S.FAILED)


def test_the_status_groups() -> None:
    assert {S.CLAIMED, S.RUNNING} == LEASED
    assert {S.SCHEDULED, S.PENDING, S.RETRYING, S.BLOCKED, S.THROTTLED} == WAITING
    assert {S.SCHEDULED, S.PENDING, S.BLOCKED} == INITIAL
    assert not (LEASED & WAITING) and not (TERMINAL & (LEASED | WAITING))
    assert set(TaskStatus) == TERMINAL | LEASED | WAITING


def test_str_gives_the_plain_name() -> None:
    assert str(S.PENDING) == "pending"
    assert f"{S.RETRYING}" == "retrying"
