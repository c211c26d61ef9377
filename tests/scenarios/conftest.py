"""A small multi-day lake for scenario tests: EUGP German power (base and peak), TTF gas and EUA
carbon, 24 monthly tenors over 70 business days, simulated from a two-factor lognormal model so
calibration has history to fit; each day published by write-audit-publish like an ingest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.store import Store

DAYS = 70
TENORS = 24
LAST = date(2025, 9, 17)
CURVES = (  # identity, level of the curve
    ({"location": "German", "block": "BASE", "asset_class": "power", "product": "power",
      "currency": "EUR", "per_unit": "MWh"}, 90.0),
    ({"location": "German", "block": "PEAK", "asset_class": "power", "product": "power",
      "currency": "EUR", "per_unit": "MWh"}, 105.0),
    ({"location": "Dutch_TTF", "block": "NA", "asset_class": "gas", "product": "gas",
      "currency": "EUR", "per_unit": "MWh"}, 35.0),
    ({"location": "Dutch_TTF_USDMMBTU", "block": "NA", "asset_class": "gas", "product": "gas",
      "currency": "USD", "per_unit": "MMBtu"}, 11.0),
    ({"location": "EUA", "block": "EMISSIONS", "asset_class": "emissions",
      "product": "emissions", "currency": "EUR", "per_unit": "t"}, 70.0),
)  # fmt: skip


def business_days(last: date, count: int) -> list[date]:
    days: list[date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def curve_key(identity: dict[str, str]) -> str:
    text = "|".join(f"{k}={identity.get(k, '')}" for k in sorted(identity))
    return hashlib.sha256(("EUGP|" + text).encode()).hexdigest()


def month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def day_rows(asof: date, levels: np.ndarray) -> pa.Table:
    """One as-of day: every curve's 24 months after the as-of month at ``levels[c, j]``."""
    rows = []
    for (identity, _), values in zip(CURVES, levels, strict=True):
        key = curve_key(identity)
        for j in range(TENORS):
            month = month_add(asof, j + 1)
            value = float(round(values[j], 3))
            rows.append({
                "asof_date": asof, "source_file": f"EUGP_{asof:%Y%m%d}.xlsx",
                "sheet_name": "Fixed Prices - Mid", "region": "EU", "price_type": "MID",
                "tenor_type": "MONTHLY", "contract_month": month,
                "tenor_label": f"{month:%Y-%m}", "tenor_start": month, "tenor_end": month,
                "value": value, "mid": value, "curve_key": key, "version_hash": key[:16],
                "_ingest_ts": datetime.now(UTC), "vendor": "EUGP", "units_source": "reference",
                "source_sha256": "0" * 64, **identity,
            })  # fmt: skip
    return pa.Table.from_pylist(rows, CURVE_OBSERVATION.schema)


def simulate_history(seed: int = 7) -> tuple[list[date], np.ndarray]:
    """levels[d, c, j]: a two-factor lognormal walk (kappa 1.5, short 0.45, long 0.2)."""
    rng = np.random.default_rng(seed)
    days = business_days(LAST, DAYS)
    taus = (np.arange(TENORS) + 1.5) / 12
    shape = np.array([[level * (1 + 0.08 * np.cos(2 * np.pi * (j + 1) / 12))
                       for j in range(TENORS)] for _, level in CURVES])  # fmt: skip
    logs = np.log(shape)
    out = np.empty((DAYS, len(CURVES), TENORS))
    dt = 1 / 252
    for d in range(DAYS):
        out[d] = np.exp(logs)
        z = rng.standard_normal((len(CURVES), 2))
        short = 0.45 * np.exp(-1.5 * taus)[None, :] * z[:, :1]
        long_ = 0.2 * (0.3 * z[:, :1] + np.sqrt(1 - 0.09) * z[:, 1:])
        sigma2 = (0.45 * np.exp(-1.5 * taus)) ** 2 + 0.04 + 2 * 0.3 * 0.45 * 0.2 * np.exp(
            -1.5 * taus
        )
        logs = logs + np.sqrt(dt) * (short + long_) - 0.5 * sigma2[None, :] * dt
    return days, out


@dataclass(frozen=True)
class ScenarioLake:
    settings: Settings
    days: list[date]
    levels: np.ndarray

    def lake(self) -> Lake:
        return Lake(self.settings)


@pytest.fixture(scope="session")
def scenario_lake(tmp_path_factory: pytest.TempPathFactory) -> ScenarioLake:
    home = tmp_path_factory.mktemp("scenario-lake")
    settings = Settings(home=home)
    lake = Lake(settings)
    days, levels = simulate_history()
    for asof, day_levels in zip(days, levels, strict=True):
        rows = day_rows(asof, day_levels)
        run_id = hashlib.sha256(str(asof).encode()).hexdigest()[:32]
        done = publish(lake, CURVE_OBSERVATION, {"vendor": "EUGP", "asof_date": asof}, rows,
                       run_id=run_id, content_sha256=run_id)  # fmt: skip
        assert done.status == "published"
    return ScenarioLake(settings, days, levels)


class Caller:
    """A TestClient that sends one tenant's analyst key."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str) -> Any:
        def call(url: str, **kwargs: Any) -> Any:
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(url, headers=headers, **kwargs)

        return call


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, scenario_lake: ScenarioLake,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, Caller]]]:  # fmt: skip
    """The app over the scenario lake with tenants acme and bolt (entitled to EUGP), on SQLite,
    and on PostgreSQL as a role that owns nothing (so row-level security binds it); one per
    test module."""
    state = tmp_path_factory.mktemp("scenario-api")
    store: dict[str, Any] = {"url": f"sqlite:///{Path(state) / 's.db'}"}
    if request.param == "postgresql":
        store = request.getfixturevalue("postgres_app_store")
    settings = Settings(
        home=scenario_lake.settings.home, store=store, auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    tokens = {}
    with Store.connect(settings) as opened:
        for tenant in ("acme", "bolt"):
            tenancy.create_tenant(opened, PLATFORM, tenant, tenant.title(), ["EUGP"])
            issued = tenancy.issue_key(opened, PLATFORM, tenant_id=tenant, role="aurum-analyst",
                                       name="analyst")  # fmt: skip
            tokens[tenant] = issued.token
    with TestClient(create_app(settings)) as client:
        yield client, {tenant: Caller(client, token) for tenant, token in tokens.items()}
