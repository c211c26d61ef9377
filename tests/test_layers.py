"""The import contracts in ``pyproject.toml`` (``make lint`` runs ``lint-imports``) hold, and each
one fails on a planted violation: a copy of the package with one bad import per contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

PLANTED = {
    # contract id: (module written into the copy, its source, what the report must name)
    "layers": ("lake/planted.py", "import aurum.ingest.runner\n", "aurum.lake.planted"),
    "pure-domain": ("domain/planted.py", "import pyarrow\n", "aurum.domain.planted"),
    "one-duckdb": ("api/planted.py", "import duckdb\n", "aurum.api.planted"),
    "acyclic": ("query/planted.py", "from aurum.query import planted_twin\n", ".planted_twin"),
}
TWIN = ("query/planted_twin.py", "from aurum.query import planted\n")


def lint_imports(root: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_contracts_hold():
    done = lint_imports(ROOT, ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_each_contract_fails_on_a_planted_violation(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "src" / "aurum"
    shutil.copytree(ROOT / "src" / "aurum", package, ignore=shutil.ignore_patterns("__pycache__"))
    for module, source, *_ in [*PLANTED.values(), TWIN]:
        (package / module).write_text(source)
    done = lint_imports(tmp_path, tmp_path / "src")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 kept, 4 broken" in done.stdout, done.stdout
    for _, _, named in PLANTED.values():
        assert named in done.stdout, (named, done.stdout)
