"""deploy/: the Compose file and the Kubernetes manifests, checked offline against their schemas.

No container engine runs here, so the files are validated, not run: the Compose file against the
Compose Specification's JSON schema (vendored in check-jsonschema), every Kubernetes manifest
against the Kubernetes JSON schemas of one API version, strict (kubernetes-validate ships them),
and every ``AURUM_*`` variable, ``aurum`` command and secret file they name against the code.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import BaseModel

from aurum.cli.main import app
from aurum.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.33.0"  # the oldest Kubernetes the manifests are written for
SECRETS = "/run/secrets/"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


def _compose_errors(document: dict[str, Any]) -> list[str]:
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _k8s_error(document: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'/'.join(map(str, exc.absolute_path))}: {exc.message}"
    return None


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {})
    spec = spec.get("jobTemplate", {}).get("spec", spec)  # a CronJob's pods are its jobs'
    spec = spec.get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def _setting_names() -> set[str]:
    """Every environment variable Settings reads (``__`` nesting), as ``describe_settings``."""
    names: set[str] = set()

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
            else:
                names.add(f"{prefix}{name.upper()}")

    walk(Settings, "AURUM_")
    return names


def _aurum_variables() -> dict[str, str]:
    """Every AURUM_* variable the deploy files set, with where (first place found)."""
    found: dict[str, str] = {}
    for service, spec in _compose()["services"].items():
        for name in spec.get("environment", {}):
            found.setdefault(name, f"compose.yaml services.{service}")
    for where, document in _manifests():
        if document["kind"] == "ConfigMap":
            for name in document.get("data", {}):
                found.setdefault(name, where)
        for container in _containers(document):
            for variable in container.get("env", []):
                found.setdefault(variable["name"], where)
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        for word in line.replace("\\", " ").split():
            if word.startswith("AURUM_") and "=" in word:
                found.setdefault(word.split("=")[0], "Dockerfile")
    return {name: where for name, where in found.items() if name.startswith("AURUM_")}


# -- Compose -----------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    assert _compose_errors(_compose()) == []


def test_compose_schema_catches_a_planted_error() -> None:
    planted = copy.deepcopy(_compose())
    planted["services"]["api"]["restartt"] = "always"  # an unknown key
    planted["services"]["worker"]["deploy"]["resources"]["limits"]["memory"] = ["4g"]
    errors = _compose_errors(planted)
    assert any("restartt" in error for error in errors), errors
    assert any(
        error.startswith("services/worker/deploy/resources/limits/memory") for error in errors
    )


def test_every_compose_service_has_health_limits_and_restart() -> None:
    compose = _compose()
    assert set(compose["services"]) == {
        "api", "worker", "relay", "postgres", "redis", "s3", "kafka", "trino"
    }  # fmt: skip
    for name, service in compose["services"].items():
        assert service["healthcheck"]["test"], name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"] and limits["memory"], name
        assert service["restart"] == "unless-stopped", name
    assert compose["services"]["api"]["deploy"]["replicas"] >= 2
    assert "/ready" in compose["services"]["api"]["healthcheck"]["test"][3]
    named = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in named, volume


def test_compose_secrets_are_files_declared_and_mounted() -> None:
    compose = _compose()
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert secret == {"file": f"./secrets/{name}"}
    for service_name, service in compose["services"].items():
        mounted = set(service.get("secrets", []))
        assert mounted <= set(declared), service_name
        for name, value in service.get("environment", {}).items():
            if str(value).startswith(SECRETS):
                assert value.removeprefix(SECRETS) in mounted, (service_name, name)
            if name.startswith("AURUM_") and not name.endswith("_FILE"):
                # a URL with a password or a key would be a secret in the environment
                assert "@" not in str(value) and "KEY" not in name, (service_name, name)


# -- Kubernetes ------------------------------------------------------------------------------


def test_kubernetes_manifests_follow_the_kubernetes_schemas() -> None:
    manifests = _manifests()
    assert len(manifests) >= 15
    errors = {where: _k8s_error(doc) for where, doc in manifests}
    assert {where: error for where, error in errors.items() if error} == {}


def test_kubernetes_schema_catches_planted_errors() -> None:
    deployment = copy.deepcopy(dict(_manifests())["api.yaml:Deployment/api"])
    assert _k8s_error(deployment) is None
    deployment["spec"]["replicas"] = "two"
    assert "'two' is not of type 'integer'" in (_k8s_error(deployment) or "")
    unknown = copy.deepcopy(dict(_manifests())["api.yaml:Deployment/api"])
    unknown["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    assert "livenessProbes" in (_k8s_error(unknown) or "")  # strict: unknown keys fail


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert kustomization["namespace"] == "aurum"


def test_aurum_pods_have_probes_resources_and_secret_files() -> None:
    manifests = dict(_manifests())
    settings = manifests["settings.yaml:ConfigMap/aurum-settings"]["data"]
    compose_secrets = set(_compose()["secrets"])
    for name in ("api", "worker", "relay"):
        deployment = manifests[f"{name}.yaml:Deployment/{name}"]
        (container,) = _containers(deployment)
        assert container["livenessProbe"] and container["readinessProbe"], name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert container["envFrom"] == [{"configMapRef": {"name": "aurum-settings"}}]
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert {"name": "secrets", "mountPath": SECRETS.rstrip("/"), "readOnly": True} in (
            container["volumeMounts"]
        )
        assert any(v.get("secret", {}).get("secretName") == "aurum-secrets" for v in volumes)
    for name, value in settings.items():
        if name.endswith("_FILE"):
            assert value.removeprefix(SECRETS) in compose_secrets, name
    probe = manifests["api.yaml:Deployment/api"]["spec"]["template"]["spec"]["containers"][0]
    assert "http://127.0.0.1:8095/ready" in probe["readinessProbe"]["exec"]["command"]


def test_every_process_that_writes_lineage_shares_one_journal() -> None:
    """AURUM_HOME is per pod (an emptyDir) or per service (a named volume): the lineage journal
    under it is one volume for the API and the workers, and the backup reads it."""
    journal = "/var/lib/aurum/home/lineage"
    manifests = dict(_manifests())
    claim = manifests["lineage.yaml:PersistentVolumeClaim/aurum-lineage"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for key in ("api.yaml:Deployment/api", "worker.yaml:Deployment/worker",
                "backup.yaml:CronJob/backup"):  # fmt: skip
        document = manifests[key]
        (container,) = _containers(document)
        mounted = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == journal}
        spec = document["spec"].get("jobTemplate", {}).get("spec", document["spec"])
        claims = {
            v["name"] for v in spec["template"]["spec"]["volumes"]
            if v.get("persistentVolumeClaim", {}).get("claimName") == "aurum-lineage"
        }  # fmt: skip
        assert mounted and mounted == claims, key
    services = _compose()["services"]
    for name in ("api", "worker"):
        assert f"lineage:{journal}" in services[name]["volumes"], name
    assert "mkdir -p /var/lib/aurum/home/lineage" in (DEPLOY / "Dockerfile").read_text()


def test_trino_catalog_is_the_same_in_compose_and_kubernetes() -> None:
    catalog = (DEPLOY / "trino" / "catalog" / "aurum.properties").read_text(encoding="utf-8")
    config_map = dict(_manifests())["trino.yaml:ConfigMap/trino-catalog"]
    assert config_map["data"]["aurum.properties"] == catalog
    properties = dict(
        line.split("=", 1) for line in catalog.splitlines() if line and not line.startswith("#")
    )
    # pyiceberg's SqlCatalog is named "aurum" (aurum.lake.catalog.open_catalog)
    assert properties["iceberg.jdbc-catalog.catalog-name"] == "aurum"
    assert properties["iceberg.catalog.type"] == "jdbc"
    assert properties["iceberg.jdbc-catalog.default-warehouse-dir"] == "s3://aurum/warehouse"


# -- The files against the code -----------------------------------------------------------------


def test_every_aurum_variable_is_a_setting() -> None:
    variables = _aurum_variables()
    assert len(variables) >= 10
    known = _setting_names()
    unknown = {
        name: where for name, where in variables.items() if name.removesuffix("_FILE") not in known
    }
    assert unknown == {}
    assert "AURUM_NO_SUCH__SETTING" not in known  # the walk is not vacuous
    assert "AURUM_LAKE__S3_SECRET_ACCESS_KEY" in known


def test_the_api_environment_builds_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Compose API's environment, its secrets as files, read by the real Settings."""
    for name in list(os.environ):
        if name.startswith("AURUM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env
    values = {
        "aurum_store_url": "postgresql+psycopg://aurum:app-pw@postgres:5432/aurum",
        "aurum_store_owner_url": "postgresql+psycopg://aurum_owner:owner-pw@postgres:5432/aurum",
        "s3_access_key_id": "aurum-key-id",
        "s3_secret_access_key": "aurum-secret-key",
        "aurum_cache_url": "redis://:redis-pw@redis:6379/0",
        "aurum_rate_limit_url": "redis://:redis-pw@redis:6379/1",
        "aurum_cursor_key": "0123456789abcdef0123456789abcdef",
    }
    for name, value in _compose()["services"]["api"]["environment"].items():
        if str(value).startswith(SECRETS):
            secret = tmp_path / value.removeprefix(SECRETS)
            secret.write_text(values[secret.name] + "\n", encoding="utf-8")
            value = str(secret)
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.auth.mode == "on"
    assert settings.store_url == values["aurum_store_url"]
    assert settings.store.owner_url == values["aurum_store_owner_url"]
    assert settings.catalog_url == values["aurum_store_owner_url"]
    assert settings.warehouse == "s3://aurum/warehouse"
    assert settings.lake.s3_endpoint == "http://s3:9000"
    assert settings.lake.s3_secret_access_key is not None
    assert settings.lake.s3_secret_access_key.get_secret_value() == "aurum-secret-key"
    assert settings.cache.url == values["aurum_cache_url"]
    assert settings.rate_limit.url == values["aurum_rate_limit_url"]
    assert settings.events.kafka_bootstrap == "kafka:9092"
    assert settings.api.workers == 2
    assert settings.api.cursor_key is not None


def _aurum_commands() -> dict[str, list[str]]:
    found = {}
    for service, spec in _compose()["services"].items():
        command = spec.get("command")
        if isinstance(command, list) and command[0] == "aurum":
            found[f"compose {service}"] = command[1:]
    for where, document in _manifests():
        for container in _containers(document):
            command = container.get("command", [])
            if command and command[0] == "aurum":
                found[where] = command[1:]
    return found


def test_every_aurum_command_parses() -> None:
    commands = _aurum_commands()
    assert {args[0] for args in commands.values()} == {"serve", "worker", "relay", "backup"}
    group = typer.main.get_command(app)
    for where, args in commands.items():
        command = group.commands[args[0]]  # type: ignore[attr-defined]
        context = command.make_context(args[0], list(args[1:]))  # raises on an unknown option
        assert context.params is not None, where


# -- The probe -------------------------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/ready" and self.headers.get("Authorization") == "Bearer ops-key"
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b'{"status": "ready"}' if ok else b'{"down": ["lake"]}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "probe.py"), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_probe_http_sends_the_key_and_fails_on_not_ready(server: str, tmp_path: Path) -> None:
    key = tmp_path / "aurum_probe_key"
    key.write_text("ops-key\n", encoding="utf-8")
    ready = _probe("http", f"{server}/ready", "--token-file", str(key))
    assert (ready.returncode, ready.stdout.strip()) == (0, f"{server}/ready: 200")
    key.write_text("wrong\n", encoding="utf-8")
    refused = _probe("http", f"{server}/ready", "--token-file", str(key))
    assert refused.returncode == 1
    assert refused.stderr.strip() == f'{server}/ready: 503 {{"down": ["lake"]}}'


def test_probe_store_and_kafka(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURUM_")}
    env["AURUM_HOME"] = str(tmp_path / "home")
    stored = _probe("store", env={**env, "AURUM_STORE__URL": f"sqlite:///{tmp_path}/store.db"})
    assert (stored.returncode, stored.stdout.strip()) == (0, "store: service")
    unset = _probe("kafka", env=env)
    assert (unset.returncode, unset.stderr.strip()) == (
        1, "kafka: AURUM_EVENTS__KAFKA_BOOTSTRAP is not set"
    )  # fmt: skip
