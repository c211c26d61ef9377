"""How two of a vendor's files differ in layout (layout drift).

A vendor's file changes shape without notice: a sheet renamed or dropped, a curve added, one
withdrawn, columns reordered. Each is worth an operator's look before the numbers are trusted,
even when every cell parses. The parser fingerprints each file (``aurum.ingest.parser``: per
sheet, the curves in column order, each by the first :data:`KEY_DIGITS` hex digits of its curve
key); :func:`drift` compares two such orders, sheet by sheet: sheets added or removed, curves
new or missing (by sheet), and curves **moved** — those whose order among the curves both files
share changed. Moves are found as the
complement of the longest run both files keep in the same order (a patience-sorting LIS), so one
inserted column counts as one new curve, not as every curve after it moving.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["KEY_DIGITS", "Drift", "drift"]

KEY_DIGITS = 16


@dataclass(frozen=True)
class Drift:
    """What changed between a vendor's previous file and this one."""

    sheets_added: tuple[str, ...] = ()
    sheets_removed: tuple[str, ...] = ()
    added: dict[str, list[str]] = field(default_factory=dict)  # sheet -> new curve keys
    removed: dict[str, list[str]] = field(default_factory=dict)  # sheet -> missing curve keys
    moved: dict[str, list[str]] = field(default_factory=dict)  # sheet -> curve keys moved

    @property
    def changed(self) -> bool:
        return bool(
            self.sheets_added or self.sheets_removed or self.added or self.removed or self.moved
        )

    def summary(self) -> str:
        """One line for a person.

        >>> Drift(sheets_removed=("Spark Spread",), added={"Mid": ["a", "b"]}).summary()
        "sheet(s) removed: Spark Spread; 2 new curve(s) in 'Mid'"
        """
        parts = []
        if self.sheets_added:
            parts.append(f"sheet(s) added: {', '.join(self.sheets_added)}")
        if self.sheets_removed:
            parts.append(f"sheet(s) removed: {', '.join(self.sheets_removed)}")
        for what, found in (("new", self.added), ("missing", self.removed),
                            ("moved", self.moved)):  # fmt: skip
            parts += [f"{len(keys)} {what} curve(s) in {sheet!r}" for sheet, keys in found.items()]
        return "; ".join(parts) or "no change"


def drift(before: Mapping[str, Sequence[str]], after: Mapping[str, Sequence[str]]) -> Drift:
    """How ``after`` differs from ``before`` (two fingerprints of one vendor's files).

    >>> old = {"Mid": ["a", "b", "c", "d"], "Old": ["x"]}
    >>> new = {"Mid": ["a", "c", "b", "d", "e"], "New": ["y"]}
    >>> d = drift(old, new)
    >>> d.sheets_added, d.sheets_removed, d.added, d.moved
    (('New',), ('Old',), {'Mid': ['e']}, {'Mid': ['c']})
    >>> drift(old, old).changed
    False
    """
    added_sheets = tuple(s for s in after if s not in before)
    removed_sheets = tuple(s for s in before if s not in after)
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    moved: dict[str, list[str]] = {}
    for sheet in (s for s in after if s in before):
        old, new = list(before[sheet]), list(after[sheet])
        old_set, new_set = set(old), set(new)
        if fresh := [k for k in new if k not in old_set]:
            added[sheet] = fresh
        if gone := [k for k in old if k not in new_set]:
            removed[sheet] = gone
        if shifted := _moved([k for k in old if k in new_set], [k for k in new if k in old_set]):
            moved[sheet] = shifted
    return Drift(added_sheets, removed_sheets, added, removed, moved)


def _moved(old: list[str], new: list[str]) -> list[str]:
    """The keys of ``new`` outside a longest subsequence kept in ``old``'s order (same keys)."""
    rank = {key: i for i, key in enumerate(old)}
    ranks = [rank[key] for key in new]
    tails: list[int] = []  # patience sorting: smallest tail rank of each run length
    ends: list[int] = []  # index into ``ranks`` of that tail
    previous = [-1] * len(ranks)
    for i, r in enumerate(ranks):
        at = bisect_left(tails, r)
        if at == len(tails):
            tails.append(r)
            ends.append(i)
        else:
            tails[at], ends[at] = r, i
        previous[i] = ends[at - 1] if at else -1
    kept: set[int] = set()
    i = ends[-1] if ends else -1
    while i != -1:
        kept.add(i)
        i = previous[i]
    return [key for i, key in enumerate(new) if i not in kept]
