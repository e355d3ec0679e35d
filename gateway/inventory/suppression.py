"""Which groups each committee view may publish: k-anonymity per view, complementary across views.

Each view answers one question at the coarsest grain that answers it: usage per use
case, per department, per model (each per month). A view's groups are sets of cells of
the month's cube (use case x department x model); `users(cells)` counts the distinct
employees behind any set of cells. Pure: no database, so every rule is tested alone.

Rules, per month:
1. primary: a group of fewer than k employees is hidden;
2. secondary: the hidden groups of a view are published only together, as one
   remainder, so they must cover at least k employees together. In the first view
   (use cases) a group of k or more is never hidden for that: when its hidden groups
   cover fewer than k employees, the remainder and the month total are withheld
   instead (in every view), and every other view then hides at least one group and
   publishes no remainder, so the total cannot be rebuilt. In the other views the
   smallest published group joins the hidden ones until they cover k;
3. complementary across views: views are ranked (use case, then department, then
   model). When a set already shown (a published group or remainder of a higher view,
   or the month total) and a set S of a lower view (a group, or its remainder) nest,
   their difference must cover no one or at least k employees; otherwise S is hidden
   (or, for the remainder, the smallest published group joins it). A remainder is
   checked only when it is published (never while the total is withheld). So a use case of k or more employees always shows its own totals,
   and no difference of two published figures, in one view or across views, covers
   between 1 and k-1 employees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CellKey = tuple[str, str, str]
VIEW_ORDER: tuple[str, ...] = ("use_case", "department", "model")
REMAINDER = "(remainder)"


@dataclass(frozen=True, slots=True)
class Group:
    """One group of a view: its key and the cube cells it covers."""

    key: str
    cells: frozenset[CellKey]


@dataclass(slots=True)
class Plan:
    """The plan of every view, and whether the month total may be published."""

    views: dict[str, ViewPlan]
    total_publishable: bool


@dataclass(slots=True)
class ViewPlan:
    """What one view publishes: group keys shown, and why each hidden one is hidden."""

    view: str
    published: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)
    remainder_users: int = 0


def _cells(groups: Sequence[Group], keys: Iterable[str]) -> frozenset[CellKey]:
    chosen = set(keys)
    return frozenset(c for g in groups if g.key in chosen for c in g.cells)


def plan(views: Mapping[str, Sequence[Group]], k: int, users: Callable[[frozenset[CellKey]], int]) -> Plan:
    """The publication plan of every view, ranked by `VIEW_ORDER` (unknown views last)."""
    order = sorted(views, key=lambda v: VIEW_ORDER.index(v) if v in VIEW_ORDER else len(VIEW_ORDER))
    plans: dict[str, ViewPlan] = {}
    size = {view: {g.key: users(g.cells) for g in groups} for view, groups in views.items()}
    everything = frozenset(c for groups in views.values() for g in groups for c in g.cells)
    total_publishable = users(everything) >= k
    shown_above: list[tuple[str, frozenset[CellKey]]] = []
    for rank, view in enumerate(order):
        groups = list(views[view])
        hidden = {g.key: "primary" for g in groups if size[view][g.key] < k}
        if rank == 1 and total_publishable:
            shown_above.append(("total:", everything))
        while True:
            visible = sorted((g for g in groups if g.key not in hidden),
                             key=lambda g: (size[view][g.key], g.key))
            remainder = _cells(groups, hidden.keys())
            if rank == 0 and hidden and users(remainder) < k:
                total_publishable = False
            elif visible and ((hidden and users(remainder) < k) or (not hidden and not total_publishable)):
                hidden[visible[0].key] = "secondary"
                continue
            checked_remainder = remainder if total_publishable else frozenset()
            conflict = _first_conflict(shown_above, visible, checked_remainder, k, users) if rank else None
            if conflict is None:
                break
            target, reason = conflict
            if target == REMAINDER:
                if not visible:
                    break
                hidden[visible[0].key] = reason
            else:
                hidden[target] = reason
        remainder_cells = _cells(groups, hidden.keys())
        remainder_users = users(remainder_cells) if hidden else 0
        publishable = remainder_users >= k and total_publishable
        plans[view] = ViewPlan(view, [g.key for g in groups if g.key not in hidden], hidden,
                               remainder_users if publishable else 0)
        shown_above += [(f"{view}:{g.key}", g.cells) for g in groups if g.key not in hidden]
        if publishable:
            shown_above.append((f"{view}:{REMAINDER}", remainder_cells))
    return Plan(plans, total_publishable)


def _first_conflict(shown_above: list[tuple[str, frozenset[CellKey]]], visible: list[Group],
                    remainder: frozenset[CellKey], k: int,
                    users: Callable[[frozenset[CellKey]], int]) -> tuple[str, str] | None:
    """The first set of this view that, with a set already shown above, differences down to 1..k-1 people."""
    candidates = [(g.key, g.cells) for g in visible] + ([(REMAINDER, remainder)] if remainder else [])
    for label, above in shown_above:
        for key, cells in candidates:
            if above <= cells or cells <= above:
                rest = cells ^ above
                if rest and 0 < users(rest) < k:
                    return key, f"complementary:{label}"
    return None
