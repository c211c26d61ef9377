"""Each profile is what it says, checked for real: ``aurum doctor`` finds every dependency the
profile configures (the embedded home's SQLite files and folder; PostgreSQL, the S3 server and
Redis for the cluster) and each answers; an ingest's files, data and raw archive alike, land in
the warehouse the profile names (for the cluster, on the S3 server's disk)."""

from __future__ import annotations

import json

from .helpers import ingested, sha256


def kind(target: str) -> str:
    """What a doctor's target is: its URL scheme, or ``/`` for a path."""
    return target.split("://", 1)[0] if "://" in target else target[:1]


def test_doctor_finds_every_dependency_of_the_profile_answering(installation):
    done = installation.cli("doctor", "--json")
    assert done.exit_code == 0, done.output
    checks = json.loads(done.stdout)
    assert [c for c in checks if not c["ok"]] == []
    assert {c["name"]: kind(c["target"]) for c in checks} == installation.dependencies


def test_an_ingest_s_files_land_in_the_profile_s_warehouse(
    installation, profile_settings, workbooks_dir
):
    (summary,) = ingested(installation, workbooks_dir / "EOD_EUGP_20250917_1430.xlsx")
    assert summary["status"] == "published"
    root, namespace = installation.warehouse_root, profile_settings.lake.namespace
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    assert {namespace, "raw"} <= {p.parts[0] for p in files}  # (and doctor's probe, if it ran)
    archived = [p for p in files if p.parts[:3] == ("raw", "vendor_curves", "EUGP")]
    workbook = (workbooks_dir / "EOD_EUGP_20250917_1430.xlsx").read_bytes()
    assert [p.name for p in archived] == [f"{sha256(workbook)}.xlsx"]
    data = [p for p in files if p.parts[:3] == (namespace, "curve_observation", "data")]
    assert len(data) == 1 and data[0].suffix == ".parquet"
