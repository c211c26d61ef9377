"""`aurum tenants`, `aurum keys`, dev mode's loopback rule and secrets read from files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aurum.auth.access import Access
from aurum.cli.main import app, main
from aurum.config import Settings
from aurum.store import Store

runner = CliRunner()


def test_tenants_and_keys(tmp_path: Path):
    env = {"AURUM_HOME": str(tmp_path)}
    created = runner.invoke(app, ["tenants", "create", "acme", "--vendor", "pw"], env=env)
    assert created.exit_code == 0, created.output
    assert "entitled to PW" in created.output
    entitled = runner.invoke(app, ["tenants", "entitle", "acme", "--vendor", "RP"], env=env)
    assert "PW, RP" in entitled.output
    issued = runner.invoke(
        app, ["keys", "create", "--tenant", "acme", "--role", "aurum-ops", "--name", "airflow"],
        env=env,
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("aurum_")
    prefix = token.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert prefix in listed.output and token not in listed.output and "active" in listed.output
    with (
        Store.connect(Settings(home=tmp_path)) as store,
        store.transaction(Access("acme"), write=False) as tx,
    ):
        assert tx.verify_key(token).role == "aurum-ops"
        actions = [e.action for e in tx.audit_log()]
    assert actions == ["key.create", "tenant.entitle", "tenant.create"]
    revoked = runner.invoke(app, ["keys", "revoke", prefix], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(app, ["keys", "list", "--tenant", "acme"], env=env).output


def run_main(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``aurum argv`` through the console entry point (which turns errors into one line)."""
    monkeypatch.setattr("sys.argv", ["aurum", *argv])
    monkeypatch.setattr("os._exit", lambda status: (_ for _ in ()).throw(SystemExit(status)))
    try:
        main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_mistakes_are_one_line_errors(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("AURUM_HOME", str(tmp_path))
    for argv, code in (
        (["keys", "create", "--tenant", "ghost", "--role", "aurum-ops"], "tenant_unknown"),
        (["tenants", "create", "Not Valid"], "tenant_id_invalid"),
        (["keys", "revoke", "nope"], "key_unknown"),
    ):
        status, output = run_main(argv, monkeypatch, capsys)
        assert status == 2 and code in output and "Traceback" not in output, (argv, output)


def test_dev_mode_refuses_to_serve_a_non_loopback_address(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("AURUM_HOME", str(tmp_path))
    status, output = run_main(["serve", "--host", "0.0.0.0"], monkeypatch, capsys)
    assert status == 2 and "dev_mode_exposed" in output and "AURUM_AUTH__MODE=on" in output


def test_secrets_come_from_files_and_never_show_in_errors(tmp_path: Path, capsys, monkeypatch):
    secret = tmp_path / "store-url"
    secret.write_text("postgresql+psycopg://aurum:s3cr3t-pa55@127.0.0.1:1/none\n")
    monkeypatch.setenv("AURUM_HOME", str(tmp_path))
    monkeypatch.setenv("AURUM_STORE__URL_FILE", str(secret))
    assert Settings().store.url == "postgresql+psycopg://aurum:s3cr3t-pa55@127.0.0.1:1/none"
    status, output = run_main(["runs"], monkeypatch, capsys)
    assert status == 2 and "store_unavailable" in output and "s3cr3t-pa55" not in output
    monkeypatch.setenv("AURUM_STORE__URL_FILE", str(tmp_path / "missing"))
    status, output = run_main(["runs"], monkeypatch, capsys)
    assert status == 2 and "setting_file_unreadable" in output and "Traceback" not in output


def test_an_invalid_setting_says_which_without_echoing_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("AURUM_HOME", str(tmp_path))
    monkeypatch.setenv("AURUM_AUTH__MODE", "s3cr3t-mode")
    status, output = run_main(["runs"], monkeypatch, capsys)
    assert status == 2 and "settings_invalid: auth.mode" in output
    assert "s3cr3t-mode" not in output and "Traceback" not in output
