"""Print the API's OpenAPI document: ``python -m aurum.api.openapi > openapi.json``.

The checked-in ``openapi.json`` is kept equal to this by a test.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from aurum.api.app import create_app
from aurum.config import Settings


def document() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        return create_app(Settings(home=Path(home))).openapi()


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
