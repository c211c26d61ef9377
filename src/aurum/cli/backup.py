"""``aurum backup``, ``restore`` and ``migrate``: the whole installation — store, catalog,
warehouse, raw archive and lineage journal — into a backup repository, back, or onto another
installation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aurum.cli.output import errors

if TYPE_CHECKING:
    from aurum.backup import BackupReport, RestoreReport
    from aurum.backup.service import Progress
    from aurum.cli.output import Output

__all__ = ["backup", "migrate", "restore"]

Repository = Annotated[
    Path, typer.Argument(help="The backup repository: a folder (created if missing).")
]


def backup(
    ctx: typer.Context,
    repository: Repository,
    list_: Annotated[
        bool, typer.Option("--list", help="List the repository's backups instead.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Back up the store, the catalog, every file the lake's tables need, the raw archive and
    the lineage journal into REPOSITORY, consistently, while ingest goes on. Files an earlier
    backup in the same repository holds are not copied again."""
    from aurum.backup import Repository as Backups
    from aurum.backup import backup as run_backup

    context = ctx.obj
    output = context.output(as_json)
    if list_:
        found = Backups(repository).backups()
        output.rows(
            ("backup", "started (UTC)", "tables", "files", "size", "store rows", "aurum"),
            [
                (m.backup_id, f"{m.started_at:%Y-%m-%d %H:%M:%S}", len(m.tables), len(m.files),
                 _size(m.bytes), sum(m.store_rows.values()), m.aurum_version)
                for m in found
            ],
            data=[
                {"backup_id": m.backup_id, "started_at": m.started_at.isoformat(),
                 "tables": len(m.tables), "files": len(m.files), "bytes": m.bytes,
                 "store_rows": sum(m.store_rows.values()), "aurum_version": m.aurum_version}
                for m in found
            ],
        )  # fmt: skip
        if not found and not as_json:
            output.note(f"no complete backup in {repository}")
        return
    context.check_home()
    with _progress(as_json) as progress:
        report = run_backup(context.settings, repository, progress=progress)
    output.data(_backup_data(report)) if as_json else _show_backup(output, report)


def restore(
    ctx: typer.Context,
    repository: Repository,
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="The backup to restore (default: the newest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Restore a backup from REPOSITORY into this installation, which must be empty (a fresh
    AURUM_HOME, or empty databases and warehouse): files first, checked against their SHA-256,
    then the catalog in one transaction, then the store; runs that were in flight at the backup
    are settled from the catalog."""
    from aurum.backup import restore as run_restore

    context, output = ctx.obj, ctx.obj.output(as_json)
    context.check_home()
    with _progress(as_json) as progress:
        report = run_restore(context.settings, repository, backup_id, progress=progress)
    output.data(asdict(report)) if as_json else _show_restore(output, report)


def migrate(
    ctx: typer.Context,
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="The target's settings: a file of AURUM_…=value lines (e.g."
            " AURUM_PROFILE=cluster and its URLs). Nothing else fills it in.",
        ),
    ],
    work: Annotated[
        Path | None,
        typer.Option(help="Backup repository to go through (default: $AURUM_HOME/backups)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Move this installation (e.g. embedded) onto another, empty one (e.g. the cluster
    profile) with every version and tag: a backup of this one, restored there and checked.
    This installation is left as it was; the backup stays in the repository."""
    from aurum.backup import migrate as run_migrate
    from aurum.config import Settings

    context = ctx.obj
    source, target = context.settings, Settings.from_env_file(to)
    output = context.output(as_json)
    with _progress(as_json) as progress:
        made, restored = run_migrate(
            source, target, work or source.home / "backups", progress=progress
        )
    if as_json:
        output.data({"backup": _backup_data(made), "restore": asdict(restored)})
        return
    _show_backup(output, made)
    _show_restore(output, restored)
    output.line(f"this installation is unchanged; the target's settings are in {to}")


@contextmanager
def _progress(hidden: bool) -> Iterator[Progress]:
    """A progress bar per phase on stderr, for a person at a terminal; gone when done."""
    from rich.progress import Progress as Bar

    with Bar(console=errors, transient=True, disable=hidden or not errors.is_terminal) as bar:
        tasks: dict[str, object] = {}

        def advance(phase: str, done: int, total: int) -> None:
            task = tasks.get(phase)
            if task is None:
                task = tasks[phase] = bar.add_task(phase, total=total)
            bar.update(task, completed=done, total=total)  # type: ignore[arg-type]

        yield advance


def _show_backup(output: Output, report: BackupReport) -> None:
    m = report.manifest
    output.line(f"backup {m.backup_id} in {report.path}")
    output.line(
        f"  {len(m.tables)} tables, {len(m.files):,} files ({_size(m.bytes)}): {report.copied:,}"
        f" copied ({_size(report.copied_bytes)}), {report.reused:,} already held"
    )
    output.line(
        f"  store: {sum(m.store_rows.values()):,} rows at revision {m.store_revision};"
        f" lineage: {m.lineage_events:,} events"
    )
    at = m.catalog_at.isoformat(timespec="milliseconds")
    output.line(f"  catalog read at {at}; {report.seconds:.1f} s in all")


def _show_restore(output: Output, report: RestoreReport) -> None:
    where = "rewritten for" if report.relocated else "in place at"
    output.line(f"restored backup {report.backup_id}: metadata {where} {report.warehouse}")
    output.line(
        f"  {report.tables} tables, {report.refs} tags and main branches checked,"
        f" {report.files:,} files ({_size(report.bytes)}), {report.store_rows:,} store rows,"
        f" {report.lineage_events:,} lineage events"
    )
    if report.settled:
        settled = ", ".join(f"{n} {status}" for status, n in sorted(report.settled.items()))
        output.line(f"  runs in flight at the backup, settled from the catalog: {settled}")
    phases = ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items() if k != "total")
    output.line(f"  {report.seconds['total']:.1f} s ({phases})")


def _backup_data(report: BackupReport) -> dict[str, object]:
    m = report.manifest
    return {
        "backup_id": m.backup_id, "path": str(report.path), "tables": len(m.tables),
        "files": len(m.files), "bytes": m.bytes, "copied": report.copied,
        "copied_bytes": report.copied_bytes, "reused": report.reused,
        "store_rows": dict(m.store_rows), "started_at": m.started_at.isoformat(),
        "catalog_at": m.catalog_at.isoformat(), "lineage_events": m.lineage_events,
        "seconds": round(report.seconds, 3),
    }  # fmt: skip


def _size(n: int) -> str:
    """
    >>> _size(512), _size(7_818_960), _size(3 * 1024**3)
    ('512 B', '7.5 MiB', '3.0 GiB')
    """
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
