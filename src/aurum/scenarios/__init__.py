"""Scenarios on curves: typed, versioned specs; driver shocks with their attribution; calibrated
stochastic ensembles with bands; runs on workers, published as ``scenario_output``.

The arithmetic is pure and lives in the domain (:mod:`aurum.domain.drivers`,
:mod:`aurum.domain.attribution`, :mod:`aurum.domain.ensembles`); this package holds the typed
specs (:mod:`aurum.scenarios.specs`), the whole-curve evaluation (:mod:`aurum.scenarios.compute`,
:mod:`aurum.scenarios.bands`) and the service the shells call (:class:`ScenarioService`).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from aurum.scenarios.service import Outputs, Progress, RunRequest, ScenarioService
from aurum.scenarios.specs import Assumption, ScenarioSettings

__all__ = [
    "Outputs", "Progress", "RunRequest", "ScenarioService", "scenario_schema",
]  # fmt: skip


def scenario_schema() -> dict[str, Any]:
    """JSON Schemas of a scenario's settings (``spec``) and of one assumption (``value``)."""
    return {
        "settings": ScenarioSettings.model_json_schema(),
        "assumption": TypeAdapter(Assumption).json_schema(),
    }
