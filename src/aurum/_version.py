"""Aurum's version, in a module of its own so that anything may import it without importing the
package face (``aurum/__init__.py``) and, through it, the client or the ingest pipeline."""

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def code_version() -> str:
    """The version that computes a result: the package version and, in a git checkout, the
    commit and whether the tree had changes (``0.1.0+g1a2b3c4d5e6f.dirty``); results record it,
    so a rerun on other code is another run."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}" if sha else __version__
