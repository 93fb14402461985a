from __future__ import annotations

import itertools

import pytest

from gdw_core import InvalidTransition, TaskStatus
from gdw_core.status import TERMINAL, TRANSITIONS, check_transition

S = TaskStatus


def test_table_covers_every_status_and_terminal_states_have_no_exit() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        assert status.terminal


def test_the_lifecycle_paths_are_allowed() -> None:
    for path in (
        [S.SCHEDULED, S.PENDING, S.RUNNING, S.COMPLETED],
        [S.PENDING, S.RUNNING, S.RETRYING, S.PENDING, S.RUNNING, S.FAILED],
        [S.PENDING, S.CANCELLED],
        [S.PENDING, S.RUNNING, S.CANCELLED],
    ):
        for old, new in itertools.pairwise(path):
            check_transition("t", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [(S.COMPLETED, S.PENDING), (S.FAILED, S.RUNNING), (S.RUNNING, S.PENDING), (S.PENDING, S.COMPLETED),
     (S.CANCELLED, S.PENDING), (S.SCHEDULED, S.RUNNING)],
)
def test_backwards_and_skipping_moves_are_refused(old: TaskStatus, new: TaskStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"{old} -> {new}"):
        check_transition("t", old, new)


def test_str_gives_the_plain_name() -> None:
    assert str(S.PENDING) == "pending"
    assert f"{S.RETRYING}" == "retrying"
