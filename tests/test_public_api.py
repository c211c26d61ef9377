"""The public surface is small and pinned; every setting is documented."""

from pathlib import Path

import aurum
from aurum.config import describe_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_names_are_pinned():
    assert aurum.__all__ == [
        "AurumError",
        "Client",
        "ParseResult",
        "Settings",
        "__version__",
        "parse_workbook",
    ]
    for name in aurum.__all__:
        assert getattr(aurum, name) is not None


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text(encoding="utf-8")
    missing = [name for name, _, _ in describe_settings() if f"`{name}`" not in text]
    assert not missing, f"README.md does not document: {missing}"
