"""The memory backend's pending lanes: ``take(n)`` is ``n`` calls of ``pop`` in one, across
priorities, lanes emptied and lanes dropped (more than eight priorities seen)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gdw_core.storage.ready import ReadyQueue


def _filled(priorities: list[int]) -> ReadyQueue:
    ready = ReadyQueue()
    for seq, priority in enumerate(priorities):
        ready.push(priority, seq, f"t{seq}")
    return ready


@given(
    priorities=st.lists(st.integers(-12, 12), max_size=60),
    takes=st.lists(st.integers(0, 25), min_size=1, max_size=8),
)
def test_take_is_pop_repeated(priorities: list[int], takes: list[int]) -> None:
    by_take, by_pop = _filled(priorities), _filled(priorities)
    for n in takes:
        popped = [by_pop.pop() for _ in range(min(n, len(by_pop)))]
        assert by_take.take(n) == popped
        assert (len(by_take), bool(by_take)) == (len(by_pop), bool(by_pop))
        assert list(by_take.entries()) == list(by_pop.entries())


def test_take_orders_by_priority_then_fifo() -> None:
    ready = _filled([0, 5, 0, 5, -1])
    assert ready.take(3) == ["t1", "t3", "t0"]
    ready.push(9, 10, "late-high")
    assert ready.take(10) == ["late-high", "t2", "t4"]
    assert ready.take(1) == [] and not ready
