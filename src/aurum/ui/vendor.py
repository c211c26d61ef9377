"""Refresh the dashboard's vendored files from the npm registry (``make ui-vendor``).

``VENDOR.json`` pins each package: its version, the npm integrity of its tarball (sha512, as npm
records it), and each file taken from it with its sha256. This fetches the tarball with
``npm pack``, refuses it unless the integrity matches, and copies the files. ``--upgrade VERSION``
moves to another release and records its integrity and hashes (review the diff before committing).
The test suite checks the committed files against the hashes, so an edited copy fails CI.

    python -m aurum.ui.vendor [--upgrade 6.2.0]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"
PINS = VENDOR / "VENDOR.json"


def refresh(upgrade: str | None = None) -> list[str]:
    """Fetch and copy every pinned file; what changed, one line each."""
    pins = json.loads(PINS.read_text())
    changed = []
    for name, pin in pins.items():
        version = upgrade or pin["version"]
        with tempfile.TemporaryDirectory(prefix="aurum-vendor-") as scratch:
            packed = subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--json", "--silent"],
                cwd=scratch, capture_output=True, text=True, check=True,
            )  # fmt: skip
            tarball = Path(scratch) / json.loads(packed.stdout)[0]["filename"]
            integrity = (
                "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            )
            if upgrade is None and integrity != pin["npm_integrity"]:
                raise SystemExit(f"{name}@{version}: the registry's tarball is not the pinned one")
            with tarfile.open(tarball) as archive:
                for file, facts in pin["files"].items():
                    member = archive.extractfile(facts["from"])
                    if member is None:
                        raise SystemExit(f"{name}@{version} has no {facts['from']}")
                    data = member.read()
                    digest = hashlib.sha256(data).hexdigest()
                    if digest != facts["sha256"]:
                        changed.append(f"{file}: {facts['sha256'][:12]} -> {digest[:12]}")
                    (VENDOR / file).write_bytes(data)
                    facts["sha256"] = digest
            pin["version"], pin["npm_integrity"] = version, integrity
    PINS.write_text(json.dumps(pins, indent=2) + "\n")
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", metavar="VERSION", help="move to this release")
    args = parser.parse_args(argv)
    changed = refresh(args.upgrade)
    print("\n".join(changed) if changed else "the vendored files are the pinned ones")


if __name__ == "__main__":
    main(sys.argv[1:])
