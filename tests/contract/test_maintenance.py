"""Maintenance, on the embedded and the cluster profile alike: ``aurum maintenance`` expires every
untagged snapshot and deletes every file nothing refers to (an orphan planted in the table's
folder included), and every published version — each day's v1, a corrected day's v2 — reads as
before, by its tag and at main; run again, it finds nothing to do.

Orphans are deleted on both legs, the S3 one through the rclone server, with
``--orphan-age-hours 0`` so that which files go does not hang on their ages (rclone's listing,
read through Arrow, has once been seen to give just-written objects a 1970 modification time)."""

from __future__ import annotations

import json

from aurum.lake import Lake

from .helpers import corrected, csv_rows, ingested, maintained, mid_total

DAYS = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx")
# (partitions compacted, snapshots expired, orphan files deleted) per table, for the story
# below: two days published, the second corrected, one orphan planted (the snapshots no tag or
# branch holds, the files only they referred to, and the orphan).
FIRST_PASS = {
    "curve_observation": (0, 2, 4),
    "curve_observation_quarantine": (0, 0, 0),
    "curve_dead_letter": (0, 0, 0),
    "qa_checks": (0, 3, 3),
}


def test_expiry_and_orphans_go_and_every_version_stays(
    tenants, client, profile_settings, workbooks_dir, tmp_path
):
    summaries = ingested(tenants, *(workbooks_dir / d for d in DAYS))
    summaries += ingested(tenants, corrected(workbooks_dir / DAYS[1], tmp_path))
    assert [s["tag"] for s in summaries] == [
        "eod/EUGP/2025-09-12/v1", "eod/EUGP/2025-09-17/v1", "eod/EUGP/2025-09-17/v2"]  # fmt: skip
    table = Lake(profile_settings).table("curve_observation")
    orphan = f"{table.location()}/data/orphan-{tmp_path.name}.parquet"
    with table.io.new_output(orphan).create() as out:
        out.write(b"nothing refers to this")
    assert table.io.new_input(orphan).exists()

    done = tenants.cli("maintenance", "--retain-days", "0", "--orphan-age-hours", "0")
    assert done.exit_code == 0, done.output
    first = maintained(done.stdout)
    assert {t: first[t] for t in FIRST_PASS} == FIRST_PASS, done.stdout
    assert not table.io.new_input(orphan).exists()
    again = tenants.cli("maintenance", "--retain-days", "0", "--orphan-age-hours", "0")
    assert again.exit_code == 0, again.output
    assert {counts for counts in maintained(again.stdout).values()} == {(0, 0, 0)}, again.stdout

    # every version reads as it was published
    analyst = tenants.auth("acme/aurum-analyst")

    def day(asof: str, **more: str) -> list[dict[str, str]]:
        answer = client.get("/v1/curves", params={"vendor": "EUGP", "asof": asof,
                            "format": "csv", **more}, headers=analyst)  # fmt: skip
        assert answer.status_code == 200, answer.text[:300]
        return csv_rows(answer.content)

    assert mid_total(day("2025-09-12")) == 627901.458
    assert mid_total(day("2025-09-17", as_at="eod/EUGP/2025-09-17/v1")) == 634930.612
    v2 = day("2025-09-17", as_at="eod/EUGP/2025-09-17/v2")
    assert mid_total(day("2025-09-17")) == mid_total(v2) == round(634930.612 + 4.5, 3)
    history = tenants.cli("history", "--vendor", "EUGP", "--asof", "2025-09-17", "--json")
    assert [(v["tag"], v["snapshot_id"]) for v in json.loads(history.stdout)] == [
        (s["tag"], s["snapshot_id"]) for s in summaries[1:]]  # fmt: skip
