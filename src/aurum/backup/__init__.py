"""Backup, restore and migration of an installation (``aurum backup|restore|migrate``)."""

from aurum.backup.manifest import BackupFile, Manifest
from aurum.backup.service import (
    BackupReport,
    Repository,
    RestoreReport,
    backup,
    migrate,
    restore,
)

__all__ = [
    "BackupFile",
    "BackupReport",
    "Manifest",
    "Repository",
    "RestoreReport",
    "backup",
    "migrate",
    "restore",
]
