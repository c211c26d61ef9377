"""The Scenarios page: the driver run's waterfall equals the API's attribution (and adds up to
the move), an ensemble run's fan chart shows the API's bands, and a run started from the page
shows its progress until it is published."""

from __future__ import annotations

import json
from typing import Any

from .conftest import Ensembles, Watched, get_json, post_json


def _cells(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.title || c.textContent))",
    )


def _outputs(base: str, scenario: str, run: str, key: str) -> list[dict[str, Any]]:
    url = f"{base}/v1/scenarios/{scenario}/runs/{run}/outputs?curve_key={key}&limit=10000"
    return get_json(url)["data"]


def test_the_driver_runs_attribution_is_the_apis(dashboard: str, watched: Watched):
    (scenario,) = [
        s for s in get_json(f"{dashboard}/v1/scenarios")["data"] if s["name"] == "gas and carbon"
    ]
    page = watched.goto(f"{dashboard}/ui/scenarios?scenario={scenario['id']}")
    page.wait_for_selector("#waterfall[data-drawn]")
    page.wait_for_selector("#fan-chart[data-drawn]")
    run = page.url.split("run=")[1].split("&")[0] if "run=" in page.url else None
    runs = get_json(f"{dashboard}/v1/scenarios/{scenario['id']}/runs")["data"]
    run = run or next(r["id"] for r in runs if r["status"] == "published")
    key = page.input_value("#f-curve")
    rows = {r["tenor_label"]: r for r in _outputs(dashboard, scenario["id"], run, key)}
    header = page.locator("#scenario-table thead th").all_text_contents()
    assert header[:6] == ["Tenor", "Base", "Scenario", "P5", "P50", "P95"]
    names = header[6:]
    assert len(names) == 4  # the example's four assumptions
    shown = _cells(page, "#scenario-table")
    assert len(shown) == len(rows)
    for cells in shown:
        row = rows[cells[0]]
        assert float(cells[1]) == row["base_value"] and float(cells[2]) == row["value"]
        shares = json.loads(row["attribution"])
        for name, cell in zip(names, cells[6:], strict=True):
            assert float(cell) == shares[name]
        # Shapley: the shares add up to the move
        assert abs(sum(shares.values()) - (row["value"] - row["base_value"])) < 1e-6
    # the curve picker holds the run's curves, the one drawn first moved most
    top = get_json(f"{dashboard}/v1/curves/diff?scenario_run={run}&sort=abs_change&top=1")["data"][
        0
    ]
    assert key == top["curve_key"]


def test_an_ensemble_runs_fan_chart_shows_its_bands(ensembles: Ensembles, watched: Watched):
    base = ensembles.base
    page = watched.goto(f"{base}/ui/scenarios?scenario={ensembles.scenario}&run={ensembles.run}")
    page.wait_for_selector("#fan-chart[data-drawn]")
    key = page.input_value("#f-curve")
    rows = {r["tenor_label"]: r for r in _outputs(base, ensembles.scenario, ensembles.run, key)}
    banded = [r for r in rows.values() if r["p5"] is not None]
    assert banded, "the first curve shown is one the ensemble simulated"
    for cells in _cells(page, "#scenario-table"):
        row = rows[cells[0]]
        if row["p5"] is not None:
            assert [float(c) for c in cells[3:6]] == [row["p5"], row["p50"], row["p95"]]
            assert row["p5"] <= row["p50"] <= row["p95"]
    # hover the fan: the tooltip names the bands
    box = page.locator("#fan-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    names = page.locator(".tip .row span span").all_text_contents()
    page.wait_for_selector(".tip .head", state="visible")
    labels = " ".join(page.locator(".tip").all_text_contents())
    assert "P5" in labels and "P95" in labels and "scenario" in labels, (labels, names)


def test_a_run_started_from_the_page_shows_progress_until_published(
    dashboard: str, watched: Watched
):
    made = post_json(f"{dashboard}/v1/scenarios", {
        "name": "PW +5 % (launched from the page)", "spec": {"base": {"vendors": ["PW"]}},
        "assumptions": [{"name": "up", "value": {"type": "shock", "mode": "relative", "value": 5}}],
    })["data"][0]  # fmt: skip
    page = watched.goto(f"{dashboard}/ui/scenarios?scenario={made['id']}")
    assert "No runs yet" in page.inner_text("#scenario-view")
    page.focus("#run-now")
    watched.after(lambda: page.keyboard.press("Enter"))  # ends when the published run is drawn
    assert "run=" in page.url
    page.wait_for_selector("#fan-chart[data-drawn]")
    runs = get_json(f"{dashboard}/v1/scenarios/{made['id']}/runs")["data"]
    assert [r["status"] for r in runs] == ["published"]
    assert runs[0]["id"] in page.url
