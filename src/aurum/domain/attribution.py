"""How much of a scenario's move each assumption explains: exact Shapley values, or one at a time.

A scenario applies ``n`` assumptions (the *players*) to base curves. ``evaluate(S)`` is the model's
output (a number, or an array over curves and tenors) with only the players in ``S`` applied.

**Shapley** (the default) gives player ``i`` its marginal effect averaged over every order in
which the players could be added::

    phi_i = sum over S not holding i of |S|! (n - |S| - 1)! / n! * (v(S + {i}) - v(S))

It needs all ``2^n`` subsets (each evaluated once, here cached), is exact, and its shares always
add up to the whole move ``v(all) - v(none)``: interactions (the carbon cost of a higher heat
rate) are split evenly between the players that make them.

**One at a time** applies each player alone against the base: ``n + 1`` evaluations, cheap, but
interactions are left over as a ``residual``. For a model linear in its players the two agree
and the residual is zero.

>>> import numpy as np
>>> effects = {0: 1.0, 1: 2.0}
>>> model = lambda s: np.array(sum(effects[i] for i in s) + (3.0 if s == {0, 1} else 0.0))
>>> [float(v) for v in shapley(model, 2)]
[2.5, 3.5]
>>> alone, residual = one_at_a_time(model, 2)
>>> [float(v) for v in alone], float(residual)
([1.0, 2.0], 3.0)
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_PLAYERS", "Evaluate", "one_at_a_time", "shapley"]

FloatArray = npt.NDArray[np.float64]
Evaluate = Callable[[frozenset[int]], FloatArray]
MAX_PLAYERS = 16  # 65,536 evaluations: beyond that, one at a time


def shapley(evaluate: Evaluate, players: int) -> list[FloatArray]:
    """Each player's exact Shapley value (same shape as ``evaluate``'s output); they sum to
    ``evaluate(all) - evaluate(none)``."""
    if not 0 <= players <= MAX_PLAYERS:
        raise ValueError(
            f"exact Shapley over {players} players needs 2^{players} evaluations: at most"
            f" {MAX_PLAYERS} (or attribute one at a time)"
        )
    values: dict[frozenset[int], FloatArray] = {}

    def value(subset: frozenset[int]) -> FloatArray:
        found = values.get(subset)
        if found is None:
            found = np.asarray(evaluate(subset), dtype=np.float64)
            values[subset] = found
        return found

    weights = [
        factorial(size) * factorial(players - size - 1) / factorial(players)
        for size in range(players)
    ]
    everyone = range(players)
    shares: list[FloatArray] = []
    for player in everyone:
        others = [p for p in everyone if p != player]
        total = np.zeros_like(value(frozenset()))
        for size in range(players):
            for chosen in combinations(others, size):
                without = frozenset(chosen)
                total = total + weights[size] * (value(without | {player}) - value(without))
        shares.append(total)
    return shares


def one_at_a_time(evaluate: Evaluate, players: int) -> tuple[list[FloatArray], FloatArray]:
    """Each player applied alone against the base, and the ``residual``: the whole move less
    their sum (the interactions)."""
    base = np.asarray(evaluate(frozenset()), dtype=np.float64)
    alone = [np.asarray(evaluate(frozenset({p})), dtype=np.float64) - base for p in range(players)]
    whole = np.asarray(evaluate(frozenset(range(players))), dtype=np.float64) - base
    residual = whole - (np.sum(alone, axis=0) if alone else np.zeros_like(base))
    return alone, residual
