"""Which groups each committee view publishes (pure rules, on hand-made and random cubes)."""

from __future__ import annotations

import random
from itertools import combinations

from gateway.inventory.suppression import VIEW_ORDER, CellKey, Group, plan

K = 5


def cube(people: dict[CellKey, set[str]]):
    """Views built from cells -> the people behind each, and the distinct-user counter."""
    views = {}
    for index, dimension in enumerate(VIEW_ORDER):
        by_key: dict[str, set[CellKey]] = {}
        for cell in people:
            by_key.setdefault(cell[index], set()).add(cell)
        views[dimension] = [Group(key, frozenset(cells)) for key, cells in sorted(by_key.items())]

    def users(cells: frozenset[CellKey]) -> int:
        return len(set().union(*(people[c] for c in cells))) if cells else 0

    return views, users


def crowd(prefix: str, count: int) -> set[str]:
    return {f"{prefix}{i}" for i in range(count)}


def test_a_use_case_used_by_k_people_shows_its_own_totals_even_when_the_rest_is_tiny():
    views, users = cube({("analysis", "finance", "large"): crowd("f", 7), ("translation", "legal", "small"): {"l0"},
                         ("summary", "hr", "small"): {"h0", "h1"}})
    decided = plan(views, K, users)
    assert decided.views["use_case"].published == ["analysis"]
    assert decided.views["use_case"].hidden == {"summary": "primary", "translation": "primary"}
    assert not decided.total_publishable and decided.views["use_case"].remainder_users == 0
    assert decided.views["department"].published == [] and decided.views["department"].remainder_users == 0


def test_a_department_that_minus_a_published_use_case_leaves_fewer_than_k_people_is_hidden():
    views, users = cube({("analysis", "finance", "large"): crowd("f", 6), ("chat", "finance", "small"): {"f0", "x1"},
                         ("chat", "sales", "small"): crowd("s", 6)})
    decided = plan(views, K, users)
    assert decided.views["use_case"].published == ["analysis", "chat"]
    assert decided.views["department"].hidden["finance"] == "complementary:use_case:analysis"
    assert "finance" not in decided.views["department"].published


def test_small_groups_are_published_together_when_they_cover_k_people():
    views, users = cube({("a", "d1", "m"): crowd("a", 8), ("b", "d2", "m"): crowd("b", 3),
                         ("c", "d3", "m"): crowd("c", 3)})
    decided = plan(views, K, users)
    assert decided.views["use_case"].published == ["a"]
    assert decided.views["use_case"].remainder_users == 6 and decided.total_publishable


def test_no_published_figure_or_difference_of_two_covers_between_one_and_k_minus_one_people():
    rng = random.Random(19)
    staff = [f"e{i}" for i in range(40)]
    for _ in range(200):
        people: dict[CellKey, set[str]] = {}
        for _ in range(rng.randint(1, 12)):
            cell = (f"u{rng.randint(0, 4)}", f"d{rng.randint(0, 3)}", f"m{rng.randint(0, 2)}")
            people.setdefault(cell, set()).update(rng.sample(staff, rng.randint(1, 8)))
        views, users = cube(people)
        decided = plan(views, K, users)
        shown: list[frozenset[CellKey]] = []
        for dimension, view_plan in decided.views.items():
            cells = {g.key: g.cells for g in views[dimension]}
            shown += [cells[key] for key in view_plan.published]
            if view_plan.remainder_users:
                shown.append(frozenset(c for key in view_plan.hidden for c in cells[key]))
        if decided.total_publishable:
            shown.append(frozenset(people))
        assert all(users(cells) >= K for cells in shown)
        for big, small in combinations(shown, 2):
            for outer, inner in ((big, small), (small, big)):
                if inner < outer:
                    assert users(outer - inner) >= K, (people, outer, inner)
        big_use_cases = [g.key for g in views["use_case"] if users(g.cells) >= K]
        assert set(big_use_cases) <= set(decided.views["use_case"].published)
