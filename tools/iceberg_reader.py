"""Read one Iceberg table with DuckDB's iceberg extension: a reader that shares no code with Aurum.

Aurum writes its tables with pyiceberg; this script reads them the way another engine would, from
the table's metadata file alone (no catalog, nothing imported from Aurum), so a test can compare
the two reads row for row (``tests/lake/test_independent_reader.py``). It runs in its own venv,
``.venv-iceberg-reader`` (``make iceberg-reader``), with pinned DuckDB and extension wheels.

The extensions come from PyPI wheels (``duckdb-extension-iceberg`` and the ``avro`` one that
iceberg needs for its manifests): each wheel ships the binary as
``duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension``, the file its
companion helper (``duckdb_extensions.import_extension``) hands to ``INSTALL``. Here it is
``LOAD``-ed from that path directly, with auto-install and auto-load switched off, so DuckDB never
looks for an extension on the network or in ``~/.duckdb``.

Usage (``--snapshot-id`` or ``--ref`` reads an older snapshot, e.g. a published version's tag)::

    .venv-iceberg-reader/bin/python tools/iceberg_reader.py \\
        file:///…/curve_observation/metadata/00012-….metadata.json \\
        --ref eod/EUGP/2025-09-17/v1 --out rows.parquet

Without ``--out`` the rows are printed as CSV. An ``s3://`` location is read through DuckDB's
``httpfs`` extension (its wheel too) with the endpoint and keys from the environment:
``READER_S3_ENDPOINT`` (``host:port`` of an S3-compatible server; unset: AWS),
``READER_S3_KEY_ID``, ``READER_S3_SECRET``, ``READER_S3_REGION`` (default ``us-east-1``) and
``READER_S3_SSL`` (``false`` for plain HTTP); addressing is path-style for a custom endpoint.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import duckdb

EXTENSIONS = ("avro", "iceberg")  # avro first: iceberg's init would otherwise try to fetch it


def connect(s3: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the wheels' avro and iceberg extensions loaded (offline); with
    ``s3``, httpfs too and a secret for the environment's endpoint and keys."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    for name in ("httpfs", *EXTENSIONS) if s3 else EXTENSIONS:
        package = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        binary = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        con.execute(f"LOAD '{binary}'")
    if s3:
        options = {
            "KEY_ID": os.environ.get("READER_S3_KEY_ID", ""),
            "SECRET": os.environ.get("READER_S3_SECRET", ""),
            "REGION": os.environ.get("READER_S3_REGION", "us-east-1"),
        }
        if os.environ.get("READER_S3_ENDPOINT"):
            options |= {"ENDPOINT": os.environ["READER_S3_ENDPOINT"], "URL_STYLE": "path"}
        settings = ", ".join(f"{k} '{v}'" for k, v in options.items())
        ssl = os.environ.get("READER_S3_SSL", "true").lower() != "false"
        con.execute(f"CREATE SECRET reader (TYPE s3, {settings}, USE_SSL {str(ssl).lower()})")
    return con


def snapshot_of(con: duckdb.DuckDBPyConnection, metadata: str, ref: str) -> int:
    """The snapshot a branch or tag names, read from the metadata file's ``refs``."""
    (text,) = con.execute("SELECT content FROM read_text(?)", [metadata]).fetchone()
    refs = json.loads(text).get("refs", {})
    if ref not in refs:
        raise SystemExit(f"no ref {ref!r} in {metadata} (refs: {', '.join(sorted(refs))})")
    return int(refs[ref]["snapshot-id"])


def scan(
    con: duckdb.DuckDBPyConnection, metadata: str, snapshot_id: int | None = None
) -> duckdb.DuckDBPyRelation:
    """The table's rows at ``snapshot_id`` (its current snapshot when None)."""
    if snapshot_id is None:
        return con.sql("SELECT * FROM iceberg_scan($metadata)", params={"metadata": metadata})
    return con.sql(
        "SELECT * FROM iceberg_scan($metadata, snapshot_from_id = $snapshot)",
        params={"metadata": metadata, "snapshot": snapshot_id},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metadata", help="the table's metadata.json location (path or file://)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--snapshot-id", type=int, help="read this snapshot (time travel)")
    which.add_argument("--ref", help="read the snapshot this tag or branch names")
    parser.add_argument("--out", type=Path, help="write the rows to this Parquet file")
    args = parser.parse_args(argv)

    con = connect(s3=args.metadata.startswith(("s3://", "s3a://")))
    snapshot_id = args.snapshot_id
    if args.ref is not None:
        snapshot_id = snapshot_of(con, args.metadata, args.ref)
    rows = scan(con, args.metadata, snapshot_id)
    if args.out is not None:
        rows.write_parquet(str(args.out))
        count = con.execute("SELECT count(*) FROM read_parquet(?)", [str(args.out)]).fetchone()
        print(f"{count[0]} rows -> {args.out}", file=sys.stderr)
        return 0
    sys.stdout.flush()
    rows.write_csv("/dev/stdout")  # DuckDB's own CSV writer (no Python value conversion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
