"""The role vocabulary, defined once: who may do what.

``aurum-admin`` includes the other two; ``aurum-ops`` runs ingest and reads runs, readiness and
metrics (and curves); ``aurum-analyst`` reads curves and exports and owns the tenant's scenarios,
PPA contracts and curve definitions.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["ADMIN", "ANALYST", "OPS", "ROLES", "Role"]

Role = Literal["aurum-admin", "aurum-ops", "aurum-analyst"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
ADMIN: Final[Role] = "aurum-admin"
OPS: Final[Role] = "aurum-ops"
ANALYST: Final[Role] = "aurum-analyst"
