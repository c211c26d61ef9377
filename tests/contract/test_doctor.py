"""``aurum doctor`` on each profile: it can run again and again, and leaves nothing in the
warehouse. On S3 its probe is deleted with DeleteObjects: deleting through Arrow wrote an empty
``_doctor/`` folder marker, which rclone's server keeps as a zero-byte object, so the next run
could not write ``_doctor/<id>`` (the cluster profile's one difference, until fixed)."""

from __future__ import annotations

import json


def test_doctor_can_run_again_and_leaves_nothing_in_the_warehouse(installation):
    for _ in range(2):
        done = installation.cli("doctor", "--json")
        assert done.exit_code == 0, done.output
        assert [c["name"] for c in json.loads(done.stdout) if not c["ok"]] == []
    root = installation.warehouse_root
    assert [p.relative_to(root) for p in root.rglob("*") if p.is_file()] == []
