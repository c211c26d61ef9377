"""The recorded real feed payloads in ``../shared/feeds`` (required in CI, skipped elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "feeds"


@pytest.fixture(scope="session")
def feeds() -> Path:
    if not (FEEDS / "README.md").is_file():
        message = f"recorded feed payloads not found at {FEEDS}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: they must be there)")
        pytest.skip(f"{message}; put the shared folder beside the checkout to run these tests")
    return FEEDS
