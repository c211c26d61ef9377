"""The README's walk-through works as written: the demo's commands, its curl examples (they
return what the text says they do) and its Python snippet, pasted as is, on a fresh home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
AURUM = Path(sys.executable).parent / "aurum"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the README's `make demo` steps ran: `.aurum/demo` with five days of
    the three vendors ingested."""
    folder = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "AURUM_HOME": str(folder / ".aurum" / "demo")}
    for command in (
        [AURUM, "demo-data", "--days", "5", "--out", ".aurum/demo/inbox",
         "--feeds-out", ".aurum/demo/feeds"],
        [AURUM, "ingest", ".aurum/demo/inbox"],
        [AURUM, "feeds", "load", ".aurum/demo/feeds"],
        [AURUM, "scenario", "create", str(ROOT / "examples" / "scenarios" / "gas-and-carbon.json")],
        [AURUM, "scenario", "run", "gas and carbon"],
    ):
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return folder


def test_the_python_snippet_runs_as_pasted(demo: Path):
    block = re.search(r"From Python.*?```python\n(.*?)```", README, re.S)
    assert block, "the README lost its Python snippet"
    snippet = block.group(1) + "\nprint(result.conservation)\n"
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=demo, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "AURUM_HOME"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    promised = re.search(r"# (\d[\d,]* price cells = .*?)\n\s*#\s+(\+ .*?)\n", block.group(1))
    assert promised, "the snippet's comment lost the conservation line"
    assert f"{promised.group(1)} {promised.group(2)}" in done.stdout


def test_the_curl_examples_return_what_the_readme_says(demo: Path):
    urls = re.findall(r"^curl '127\.0\.0\.1:8095(/v1/[^']+)'", README, re.M)
    assert len(urls) == 9, urls
    with TestClient(create_app(Settings(home=demo / ".aurum" / "demo"))) as client:
        answers = []
        for url in urls[:3]:
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.text[:500])
            answers.append(answer.json()["data"])
        scenarios = client.get(urls[3]).json()["data"]
        assert [s["name"] for s in scenarios] == ["gas and carbon"]
        ids = {"ID": scenarios[0]["id"]}
        runs = client.get(urls[4].replace("ID", ids["ID"])).json()["data"]
        assert [r["status"] for r in runs] == ["published"] and runs[0]["result"]["curves"] > 50
        ids["RUN"] = runs[0]["id"]
        named = [re.sub(r"\b(ID|RUN)\b", lambda m: ids[m.group(1)], url) for url in urls[5:8]]
        german, movers_pjm, outputs = (client.get(url) for url in named)
        assert german.status_code == movers_pjm.status_code == outputs.status_code == 200
        rows = german.json()["data"]
        assert rows and all(r["value"] > r["base_value"] for r in rows)  # gas and carbon up
        assert {(r["location"], r["product"], r["block"]) for r in rows} == {
            ("German", "power", "BASE")
        }
        top = movers_pjm.json()["data"]
        assert len(top) == 5 and all(r["iso"] == "PJM" for r in top)
        assert "attribution" in outputs.text.splitlines()[0]
        realised = client.get(urls[8])  # the Western Hub's September beside its forward
        assert realised.status_code == 200, realised.text[:500]
        blocks = {r["block"]: r for r in realised.json()["data"]}
        assert set(blocks) == {"ON_PEAK", "OFF_PEAK", "ATC"}
        assert all(r["realised"] and r["forward"] for r in blocks.values())
        assert (blocks["ON_PEAK"]["realised_hours"], blocks["ATC"]["realised_hours"]) == (336, 720)
    power, strips, movers = answers
    assert power and all(
        (r["location"], r["product"], r["block"]) == ("German", "power", "BASE") for r in power
    )
    assert "Bal Cal 2025" in {r["label"] for r in strips}
    assert all(r["weighting"] == "hours" for r in strips if r["source"] == "derived")
    assert len(movers) == 5 and [abs(r["z"]) for r in movers] == sorted(
        (abs(r["z"]) for r in movers), reverse=True
    )
    assert urlsplit(urls[0]).query.count("product=power") == 1
