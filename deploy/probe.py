#!/usr/bin/env python3
"""Health probes of Aurum's containers (Compose health checks, Kubernetes exec probes).

Installed in the image as ``aurum-probe``. Exit 0: healthy; 1: not, with one line saying why.

    aurum-probe http URL [--token-file PATH]   the URL answers 200 (``/ready`` needs an ops key:
                                               the file holds an API key of role aurum-ops)
    aurum-probe store                          the store the settings name answers (worker)
    aurum-probe kafka                          the store answers and a Kafka bootstrap server
                                               accepts a connection (relay)

``/ready`` rather than a raw HTTP check because Kubernetes' ``httpGet`` probes cannot read a
header's value from a Secret, and the readiness route is for the ops role only.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path


def http(url: str, token_file: str | None, timeout_s: float) -> str:
    request = urllib.request.Request(url)
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{url}: {exc.code} {exc.read(500).decode('utf-8', 'replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(f"{url}: {exc}") from None


def store() -> str:
    from aurum.config import Settings
    from aurum.store import Store

    try:
        with Store.connect(Settings()) as opened:
            return f"store: {opened.row_security()}"
    except Exception as exc:  # any backend's error: one line, never a traceback
        raise SystemExit(f"store: {type(exc).__name__}: {exc}") from None


def kafka(timeout_s: float) -> str:
    from aurum.config import Settings

    bootstrap = Settings().events.kafka_bootstrap
    if not bootstrap:
        raise SystemExit("kafka: AURUM_EVENTS__KAFKA_BOOTSTRAP is not set")
    failures = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return f"{store()}; kafka: {server.strip()} accepts connections"
        except (OSError, ValueError) as exc:
            failures.append(f"{server.strip()}: {exc}")
    raise SystemExit("kafka: " + "; ".join(failures))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aurum-probe", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="Seconds (default 5).")
    checks = parser.add_subparsers(dest="check", required=True)
    http_check = checks.add_parser("http", help="The URL answers 200.")
    http_check.add_argument("url")
    http_check.add_argument("--token-file", help="File holding a bearer token (an API key).")
    checks.add_parser("store", help="The store answers.")
    checks.add_parser("kafka", help="The store answers and a Kafka broker accepts connections.")
    args = parser.parse_args(argv)
    if args.check == "http":
        print(http(args.url, args.token_file, args.timeout))
    elif args.check == "store":
        print(store())
    else:
        print(kafka(args.timeout))


if __name__ == "__main__":
    sys.exit(main())
