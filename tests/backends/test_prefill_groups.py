"""Splitting prefill into passes of similar lengths: optimal cuts, every row exactly once."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from persona_lib.backends._prefill_groups import prefill_groups


def cost(lengths, groups, pass_cost):
    return sum(len(group) * max(lengths[row] for row in group) for group in groups) + pass_cost * (len(groups) - 1)


def test_short_and_long_prompts_are_computed_apart():
    assert prefill_groups([400, 10, 410, 12], pass_cost=64) == [[1, 3], [0, 2]]


def test_a_split_that_saves_less_than_a_pass_is_not_made():
    assert prefill_groups([120, 100], pass_cost=64) == [[1, 0]]
    assert prefill_groups([120, 100], pass_cost=10) == [[1], [0]]


def test_equal_lengths_and_no_rows():
    assert prefill_groups([7, 7, 7]) == [[0, 1, 2]]
    assert prefill_groups([]) == []


def brute_force_best(lengths, pass_cost):
    """The least cost over every way to cut the sorted rows into runs."""
    order = sorted(range(len(lengths)), key=lambda row: lengths[row])
    best = float("inf")
    for n_cuts in range(len(order)):
        for cuts in combinations(range(1, len(order)), n_cuts):
            bounds = [0, *cuts, len(order)]
            groups = [order[a:b] for a, b in zip(bounds, bounds[1:])]
            best = min(best, cost(lengths, groups, pass_cost))
    return best


@given(st.lists(st.integers(1, 500), min_size=1, max_size=8), st.integers(0, 200))
def test_every_row_once_at_the_least_cost(lengths, pass_cost):
    groups = prefill_groups(lengths, pass_cost)
    assert sorted(row for group in groups for row in group) == list(range(len(lengths)))
    assert cost(lengths, groups, pass_cost) == brute_force_best(lengths, pass_cost)
