"""``aurum serve`` starts uvicorn with the app factory and answers over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_curves_over_http(build_lake, synthetic_days):
    settings = build_lake("serve", synthetic_days("EUGP", date(2025, 10, 1), 1))
    port = free_port()
    aurum = Path(sys.executable).with_name("aurum")
    server = subprocess.Popen(
        [str(aurum), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "AURUM_HOME": str(settings.home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "aurum serve did not become ready in 60 s"
            time.sleep(0.2)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/curves",
            params={"vendor": "EUGP", "location": "German", "block": "BASE", "asof": "latest"},
        )
        assert answer.status_code == 200
        assert answer.json()["data"][0]["asof_date"] == "2025-10-01"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
